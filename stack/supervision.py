"""Start, find and stop the detached supervisor of a run directory (what ``up``, ``down`` and ``status`` use)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from stack import launcher
from stack.pids import POLL_INTERVAL_S, is_alive, live_pid, tail, terminate, write_pid
from stack.plan import Plan, write_plan
from stack.profiles import REPO_ROOT
from stack.supervisor import read_state

CMDLINE_MARKER = "-m stack supervise"
START_TIMEOUT_S = 30.0
# It stops its processes one after another, each within the launcher's grace period.
STOP_GRACE_S = launcher.STOP_GRACE_S * 4 + 5
LOG_TAIL_LINES = 30


class SupervisorStartError(RuntimeError):
    """The supervisor exited or did not start its processes in time; the message carries its log tail."""


def pid_path(run_dir: Path) -> Path:
    return run_dir / "supervisor.pid"


def log_path(run_dir: Path) -> Path:
    return run_dir / "logs" / "supervisor.log"


def supervisor_pid(run_dir: Path) -> int | None:
    """The pid of the live supervisor of ``run_dir``, if any."""
    return live_pid(pid_path(run_dir), CMDLINE_MARKER)


def ensure_supervisor(run_dir: Path, plan: Plan) -> int | None:
    """Write the plan and start a supervisor unless one runs; its pid when started now, None when it ran.

    A running supervisor keeps the plan it started with; ``down`` then ``up`` applies a changed one.
    Returns once the new supervisor has started (or adopted) every process of the plan.
    """
    if supervisor_pid(run_dir) is not None:
        return None
    write_plan(run_dir, plan)
    log = log_path(run_dir)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as handle:
        child = subprocess.Popen(
            [sys.executable, "-m", "stack", "supervise", "--run-dir", str(run_dir)],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    write_pid(pid_path(run_dir), child.pid)
    _wait_started(run_dir, child)
    return child.pid


def stop_supervisor(run_dir: Path) -> bool:
    """SIGTERM the supervisor (it stops its processes first), SIGKILL after a bound; True when it ran."""
    pid = supervisor_pid(run_dir)
    if pid is None:
        return False
    terminate(pid, STOP_GRACE_S, group=True)
    pid_path(run_dir).unlink(missing_ok=True)
    return True


def _wait_started(run_dir: Path, child: subprocess.Popen[bytes]) -> None:
    """Block until the supervisor's first saved state names it, which it writes after starting everything."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while read_state(run_dir).get("supervisor_pid") != child.pid:
        if child.poll() is not None or not is_alive(child.pid):
            pid_path(run_dir).unlink(missing_ok=True)
            raise SupervisorStartError(
                f"the supervisor exited (status {child.returncode}) during start-up. "
                f"Tail of {log_path(run_dir)}:\n{tail(log_path(run_dir), LOG_TAIL_LINES)}"
            )
        if time.monotonic() > deadline:
            terminate(child.pid, STOP_GRACE_S, group=True)
            pid_path(run_dir).unlink(missing_ok=True)
            raise SupervisorStartError(f"the supervisor did not start its processes within {START_TIMEOUT_S:.0f}s")
        time.sleep(POLL_INTERVAL_S)
