"""The stack's supervisor process: restarts any project process that exits, with bounded exponential backoff.

``python -m stack supervise --run-dir DIR`` runs the plan ``up`` wrote to DIR (stack/plan.py) until SIGTERM,
then stops every process it watches. It polls rather than waiting on children, because it also adopts
processes it did not start: those found running when it starts (left by a supervisor that was killed).
Each exit is one log line; restarts are counted in ``DIR/supervisor.state.json`` for ``make status``.
It only restarts on exit: a process that hangs is not its business (ingress and the ledger do not exit on a
bad event, and the ledger's consumer group hands a hung member's partitions to others).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack import envfile, launcher
from stack.pids import is_alive
from stack.plan import Entry, Plan, read_plan

TICK_S = 0.2
STATE_FILE = "supervisor.state.json"

log = logging.getLogger("stack.supervisor")


@dataclass
class Watch:
    """One supervised process and its restart bookkeeping (times from the supervisor's monotonic clock)."""

    entry: Entry
    pid: int | None = None
    started_at_s: float = 0.0
    restart_due_s: float | None = None
    quick_exits: int = 0
    restarts: int = 0
    last_exit: str = ""

    @property
    def name(self) -> str:
        return self.entry.process.name


class Supervisor:
    """Keeps every process of a plan running; ``tick`` is one pass, so tests can drive it step by step."""

    def __init__(self, plan: Plan, run_dir: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self._plan = plan
        self._run_dir = run_dir
        self._clock = clock
        self._watches = [Watch(entry) for entry in plan.entries]

    def start_all(self) -> None:
        """Adopt each process already running under its pid file; start the others."""
        for watch in self._watches:
            pid = launcher.process_pid(watch.entry.process, self._run_dir)
            if pid is None:
                self._launch(watch)
            else:
                watch.pid, watch.started_at_s = pid, self._clock()
                log.info("%s: adopted the running process (pid %d)", watch.name, pid)
        self._save()

    def tick(self) -> None:
        """Notice exits, schedule their restarts, and start those that are due."""
        changed = False
        for watch in self._watches:
            now = self._clock()
            if watch.pid is not None and not is_alive(watch.pid):
                self._exited(watch, now)
                changed = True
            if watch.pid is None and watch.restart_due_s is not None and now >= watch.restart_due_s:
                watch.restarts += 1
                self._launch(watch)
                changed = True
        if changed:
            self._save()

    def stop_all(self) -> None:
        """Stop every process, last started first (ingress before the services it needs)."""
        for watch in reversed(self._watches):
            if launcher.stop(watch.entry.process, self._run_dir):
                log.info("%s: stopped", watch.name)
            watch.pid, watch.restart_due_s = None, None
        self._save()

    def _exited(self, watch: Watch, now: float) -> None:
        assert watch.pid is not None
        ran_s = now - watch.started_at_s
        if ran_s >= self._plan.policy.stable_after_s:
            watch.quick_exits = 0
        delay_s = self._plan.policy.delay_s(watch.quick_exits)
        watch.quick_exits += 1
        watch.last_exit = _exit_status(watch.pid)
        watch.entry.process.ready_path(self._run_dir).unlink(missing_ok=True)
        log.warning(
            "%s (pid %d) %s after %.1fs; restart #%d in %.1fs",
            watch.name,
            watch.pid,
            watch.last_exit,
            ran_s,
            watch.restarts + 1,
            delay_s,
        )
        watch.pid, watch.restart_due_s = None, now + delay_s

    def _launch(self, watch: Watch) -> None:
        try:
            watch.pid = launcher.start(watch.entry.process, self._run_dir, watch.entry.env)
        except OSError as error:
            # Cannot even fork or open the log (out of memory, disk full): try again later, like an exit.
            delay_s = self._plan.policy.backoff_max_s
            log.error("%s: could not start (%s); trying again in %.1fs", watch.name, error, delay_s)
            watch.pid, watch.restart_due_s = None, self._clock() + delay_s
            return
        watch.started_at_s, watch.restart_due_s = self._clock(), None
        log.info("%s: started (pid %d)", watch.name, watch.pid)

    def _save(self) -> None:
        state = {
            "supervisor_pid": os.getpid(),
            "processes": {
                watch.name: {"pid": watch.pid, "restarts": watch.restarts, "last_exit": watch.last_exit}
                for watch in self._watches
            },
        }
        envfile.write_private(self._run_dir / STATE_FILE, json.dumps(state, indent=2) + "\n")


def read_state(run_dir: Path) -> dict[str, Any]:
    """The last state a supervisor of ``run_dir`` saved, or {} when none has run."""
    try:
        state: dict[str, Any] = json.loads((run_dir / STATE_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return state


def _exit_status(pid: int) -> str:
    """How a dead process ended, when it was our child; adopted ones report to their own parent."""
    try:
        # Never blocks: a zombie child is reaped, anything else is not ours (or was reaped already).
        reaped_pid, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return "exited"
    if reaped_pid == 0:
        return "exited"
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


def run(run_dir: Path) -> int:
    """The supervisor's main loop, until SIGTERM, SIGINT or SIGHUP; then it stops what it watches."""
    logging.basicConfig(
        stream=sys.stdout, level=logging.INFO, format="%(asctime)s supervisor %(levelname)s %(message)s"
    )
    stopping = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signal_number, lambda *_: stopping.set())
    supervisor = Supervisor(read_plan(run_dir), run_dir)
    log.info("supervising from %s (pid %d)", run_dir, os.getpid())
    supervisor.start_all()
    while not stopping.wait(TICK_S):
        supervisor.tick()
    log.info("stopping")
    supervisor.stop_all()
    return 0
