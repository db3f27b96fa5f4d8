"""Pid files, liveness checks and bounded termination of the detached processes the stack starts."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections import deque
from pathlib import Path

POLL_INTERVAL_S = 0.1
PORT_CONNECT_TIMEOUT_S = 0.5
EXEC_SETTLE_TRIES = 50
EXEC_SETTLE_PAUSE_S = 0.01


def read_pid(pid_path: Path) -> int | None:
    """The pid recorded in ``pid_path``, or None when the file is missing or unreadable."""
    try:
        return int(pid_path.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def write_pid(pid_path: Path, pid: int) -> None:
    pid_path.parent.mkdir(parents=True, exist_ok=True)
    pid_path.write_text(f"{pid}\n")


def is_alive(pid: int) -> bool:
    """True when ``pid`` is a running process; a zombie counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        # The state letter follows the parenthesised command name in /proc/<pid>/stat.
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def command_line(pid: int) -> str:
    """The process's argv joined by spaces, or "" when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def live_pid(pid_path: Path, cmdline_marker: str) -> int | None:
    """The pid from ``pid_path`` if that process is alive and is ours (its argv contains the marker).

    A pid file left behind by a dead process, or whose pid was reused by something else, is removed.
    """
    pid = read_pid(pid_path)
    if pid is None:
        return None
    if is_alive(pid) and cmdline_marker in _settled_command_line(pid):
        return pid
    pid_path.unlink(missing_ok=True)
    return None


def _settled_command_line(pid: int) -> str:
    """The argv of ``pid``, waiting out the instant of an exec in which it reads as empty.

    ``Popen`` returns once the child's close-on-exec pipe closes, which the kernel does before it has
    recorded the new argv; reading ``/proc/<pid>/cmdline`` in that window gives "". A busy machine widens
    the window enough for a pid file written just after ``Popen`` to be taken for a stranger's.
    Kernel threads read "" for good, so the wait is bounded.
    """
    for _ in range(EXEC_SETTLE_TRIES):
        line = command_line(pid)
        if line or not is_alive(pid):
            return line
        time.sleep(EXEC_SETTLE_PAUSE_S)
    return ""


def port_open(host: str, port: int) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=PORT_CONNECT_TIMEOUT_S):
            return True
    except OSError:
        return False


def terminate(pid: int, grace_s: float, *, group: bool) -> bool:
    """SIGTERM ``pid`` (its whole process group when ``group``), SIGKILL after ``grace_s``.

    Returns True when the process exited within the grace period, False when it had to be killed.
    """
    send = os.killpg if group else os.kill
    with contextlib.suppress(ProcessLookupError):
        send(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(POLL_INTERVAL_S)
    with contextlib.suppress(ProcessLookupError):
        send(pid, signal.SIGKILL)
    while is_alive(pid):
        time.sleep(POLL_INTERVAL_S)
    return False


def tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a text file, or a note that it does not exist."""
    try:
        with path.open(errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines))
    except FileNotFoundError:
        return f"(no log at {path})\n"
