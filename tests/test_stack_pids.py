"""Pid files survive the instant of an exec, when the new process's argv still reads as empty."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stack import pids


def test_a_pid_file_is_kept_while_the_process_is_mid_exec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        pid_path = tmp_path / "child.pid"
        pids.write_pid(pid_path, child.pid)
        real_command_line = pids.command_line
        reads: list[str] = []

        def argv_recorded_on_third_read(pid: int) -> str:
            # What /proc/<pid>/cmdline gives between the parent's wake-up and the kernel recording argv.
            line = "" if len(reads) < 2 else real_command_line(pid)
            reads.append(line)
            return line

        monkeypatch.setattr(pids, "command_line", argv_recorded_on_third_read)
        assert pids.live_pid(pid_path, "time.sleep(30)") == child.pid
        assert pid_path.exists()
    finally:
        child.kill()
        child.wait()


def test_a_pid_file_of_a_stranger_or_the_dead_is_removed(tmp_path: Path) -> None:
    pid_path = tmp_path / "stranger.pid"
    pids.write_pid(pid_path, os.getpid())
    assert pids.live_pid(pid_path, "-m no.such.module ") is None
    assert not pid_path.exists()

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    pids.write_pid(pid_path, child.pid)
    assert pids.live_pid(pid_path, "-c pass") is None
    assert not pid_path.exists()
