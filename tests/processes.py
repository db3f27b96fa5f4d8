"""Runs the project's services as real subprocesses for end-to-end tests, and can kill and restart them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.adhoc import free_port, free_ports
from tests.services import ROOT

__all__ = ["Service", "free_port", "free_ports"]


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)
    ready_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.workdir / f"{self.name}.log"
        self.ready_path = self.workdir / f"{self.name}.ready"

    def start(self, timeout_s: float = 60.0) -> None:
        self.ready_path.unlink(missing_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", *self.argv],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env, "LUNTREX_READY_FILE": str(self.ready_path)},
        )
        deadline = time.monotonic() + timeout_s
        while not self.ready_path.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready after {timeout_s}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to flush, commit or say goodbye."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
