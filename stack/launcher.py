"""Start, health-check and stop the project's processes as detached background processes."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from pathlib import Path

from stack.pids import POLL_INTERVAL_S, is_alive, live_pid, tail, terminate, write_pid
from stack.processes import Process
from stack.profiles import LOOPBACK, REPO_ROOT

HEALTH_TIMEOUT_S = 90.0
HEALTH_REQUEST_TIMEOUT_S = 1.0
STOP_GRACE_S = 15.0
LOG_TAIL_LINES = 30


class ProcessStartError(RuntimeError):
    """A project process exited during start-up or did not become healthy in time."""


def process_pid(process: Process, run_dir: Path) -> int | None:
    """The pid of ``process`` if it is running."""
    return live_pid(process.pid_path(run_dir), process.cmdline_marker)


def is_healthy(process: Process, run_dir: Path, pid: int | None = None) -> bool:
    """Alive, and either its health URL answers 200 or it has written its ready file."""
    if (pid is None and process_pid(process, run_dir) is None) or (pid is not None and not is_alive(pid)):
        return False
    if process.health_path is None or process.port is None:
        return process.ready_path(run_dir).exists()
    connection = http.client.HTTPConnection(LOOPBACK, process.port, timeout=HEALTH_REQUEST_TIMEOUT_S)
    try:
        connection.request("GET", process.health_path)
        return connection.getresponse().status == HTTPStatus.OK
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def start(process: Process, run_dir: Path, extra_env: Mapping[str, str]) -> int:
    """Launch ``python -m <module>`` in its own session, logging to ``logs/<name>.log``; return its pid."""
    log_path = process.log_path(run_dir)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    process.ready_path(run_dir).unlink(missing_ok=True)
    environment = {**os.environ, **extra_env, "PYTHONUNBUFFERED": "1"}
    with log_path.open("ab") as log:
        log.write(f"\n=== stack: starting {process.name} at {time.strftime('%Y-%m-%dT%H:%M:%S')} ===\n".encode())
        log.flush()
        child = subprocess.Popen(
            [sys.executable, "-m", process.module, *process.args],
            cwd=REPO_ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    write_pid(process.pid_path(run_dir), child.pid)
    return child.pid


def wait_healthy(
    processes: Iterable[Process], run_dir: Path, *, restarting: bool = False, timeout_s: float = HEALTH_TIMEOUT_S
) -> None:
    """Block until every process is healthy; fail, with its log tail, when one stalls or dies.

    A death fails at once, unless ``restarting``: a supervisor that was already running restarts the
    process, so only the deadline fails then.
    """
    pending = list(processes)
    deadline = time.monotonic() + timeout_s
    while pending:
        for process in list(pending):
            pid = process_pid(process, run_dir)
            if (pid is None or not is_alive(pid)) and not restarting:
                raise ProcessStartError(_failure(process, run_dir, "exited during start-up"))
            if pid is not None and is_healthy(process, run_dir, pid):
                pending.remove(process)
        if pending and time.monotonic() > deadline:
            names = ", ".join(process.name for process in pending)
            raise ProcessStartError(
                f"not healthy within {timeout_s:.0f}s: {names}\n"
                + "\n".join(_failure(process, run_dir, "is not healthy") for process in pending)
            )
        time.sleep(POLL_INTERVAL_S * 2)


def stop(process: Process, run_dir: Path) -> bool:
    """SIGTERM the process group, SIGKILL after a bound; True when it was running."""
    pid = process_pid(process, run_dir)
    process.ready_path(run_dir).unlink(missing_ok=True)
    if pid is None:
        return False
    terminate(pid, STOP_GRACE_S, group=True)
    process.pid_path(run_dir).unlink(missing_ok=True)
    return True


def _failure(process: Process, run_dir: Path, what: str) -> str:
    log_path = process.log_path(run_dir)
    if process.health_path is None:
        detail = f"ready file {process.ready_path(run_dir)} (LUNTREX_READY_FILE) was not written"
    else:
        detail = f"GET {LOOPBACK}:{process.port}{process.health_path} did not answer 200"
    return f"{process.name} {what}; {detail}. Tail of {log_path}:\n{tail(log_path, LOG_TAIL_LINES)}"
