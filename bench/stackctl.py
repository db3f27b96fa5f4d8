"""Bring the local dev stack up for the bench, find its processes, and leave it as it was found."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from stack import envfile, launcher, supervision
from stack.kafka import kafka_pid, stop_kafka
from stack.postgres import postgres_pid, stop_postgres
from stack.processes import FAKE_PROVIDER_URL, PROCESSES
from stack.profiles import DEV, REPO_ROOT

STACK_ENV_PATH = DEV.run_dir / "stack.env"
UP_TIMEOUT_S = 600
SERVICE_NAMES = tuple(process.name for process in PROCESSES)


class StackUnavailableError(RuntimeError):
    """``python -m stack up`` failed or left the stack without what the bench needs."""


@dataclass
class StackSession:
    """What ``python -m stack up`` had to start, so that only that is stopped afterwards."""

    started: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    # `stack up` also started the supervisor, which restarts any process that stops: it must go first.
    started_supervisor: bool = False

    @property
    def base_url(self) -> str:
        return self.env["LUNTREX_BASE_URL"]

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    @property
    def fake_provider_url(self) -> str:
        return FAKE_PROVIDER_URL


def running_parts() -> set[str]:
    """Names of the dev stack's parts that have a live process now (kafka, postgres, each service)."""
    return set(service_pids())


def all_healthy() -> bool:
    return all(launcher.is_healthy(process, DEV.run_dir) for process in PROCESSES)


def bring_up() -> StackSession:
    """Start whatever part of the dev stack is not running (``python -m stack up``) and read stack.env."""
    before = running_parts()
    supervised_before = supervision.supervisor_pid(DEV.run_dir) is not None
    every_part = {"kafka", "postgres", *SERVICE_NAMES}
    session = StackSession()
    if before != every_part or not all_healthy() or not envfile.read(STACK_ENV_PATH):
        print(
            f"bench: starting the dev stack (python -m stack up); running before: {sorted(before) or 'nothing'}",
            flush=True,
        )
        completed = subprocess.run(
            [sys.executable, "-m", "stack", "up"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=UP_TIMEOUT_S,
            check=False,
        )
        if completed.returncode != 0:
            raise StackUnavailableError(f"python -m stack up failed:\n{completed.stdout}{completed.stderr}")
        session.started = sorted(every_part - before)
        session.started_supervisor = not supervised_before and supervision.supervisor_pid(DEV.run_dir) is not None
    session.env = envfile.read(STACK_ENV_PATH)
    missing = {"LUNTREX_BASE_URL", "DATABASE_URL"} - set(session.env)
    if missing:
        raise StackUnavailableError(f"{STACK_ENV_PATH} lacks {sorted(missing)}")
    return session


def restore(session: StackSession) -> None:
    """Stop exactly the parts this bench started, services first, then Kafka and PostgreSQL."""
    if not session.started:
        return
    print(f"bench: stopping what the bench started: {', '.join(session.started)}", flush=True)
    if session.started_supervisor:
        # It stops its own processes first; left running, it would restart the ones stopped below.
        supervision.stop_supervisor(DEV.run_dir)
    for process in reversed(PROCESSES):
        if process.name in session.started:
            launcher.stop(process, DEV.run_dir)
    if "kafka" in session.started:
        stop_kafka(DEV.run_dir)
    if "postgres" in session.started:
        stop_postgres(DEV.run_dir)


def service_pids() -> dict[str, int]:
    """Pid of every running part of the dev stack, by name (fakeprovider, ledger, workers, ingress, ...)."""
    pids = {process.name: launcher.process_pid(process, DEV.run_dir) for process in PROCESSES}
    pids["kafka"] = kafka_pid(DEV.run_dir)
    pids["postgres"] = postgres_pid(DEV.run_dir)
    return {name: pid for name, pid in pids.items() if pid is not None}


def log_path(name: str) -> Path:
    return DEV.logs_dir / f"{name}.log"
