"""Bring a local stack (dev by default) up for the bench, find its processes, and leave it as it was found."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from stack import envfile, launcher, supervision
from stack.kafka import kafka_pid, stop_kafka
from stack.kafka_cluster import broker_pid, stop_cluster
from stack.postgres import postgres_pid, stop_postgres
from stack.processes import processes_for
from stack.profiles import DEV, LOOPBACK, REPO_ROOT, Profile
from stack.services import cluster_spec

UP_TIMEOUT_S = 600


class StackUnavailableError(RuntimeError):
    """``python -m stack up`` failed or left the stack without what the bench needs."""


@dataclass
class StackSession:
    """What ``python -m stack up`` had to start, so that only that is stopped afterwards."""

    started: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    # `stack up` also started the supervisor, which restarts any process that stops: it must go first.
    started_supervisor: bool = False
    profile: Profile = DEV

    @property
    def base_url(self) -> str:
        return self.env["LUNTREX_BASE_URL"]

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    @property
    def fake_provider_url(self) -> str:
        return f"http://{LOOPBACK}:{self.profile.fake_provider_port}"


def running_parts(profile: Profile = DEV) -> set[str]:
    """Names of the profile's parts that have a live process now (kafka or its brokers, postgres, each service)."""
    return set(service_pids(profile))


def all_healthy(profile: Profile = DEV) -> bool:
    return all(launcher.is_healthy(process, profile.run_dir) for process in processes_for(profile))


def _every_part(profile: Profile) -> set[str]:
    brokers = [broker.name for broker in cluster_spec(profile).brokers] if profile.brokers > 1 else ["kafka"]
    return {*brokers, "postgres", *(process.name for process in processes_for(profile))}


def bring_up(profile: Profile = DEV) -> StackSession:
    """Start whatever part of the profile's stack is not running (``python -m stack up``) and read its stack.env."""
    before = running_parts(profile)
    supervised_before = supervision.supervisor_pid(profile.run_dir) is not None
    every_part = _every_part(profile)
    stack_env_path = profile.run_dir / "stack.env"
    session = StackSession(profile=profile)
    if before != every_part or not all_healthy(profile) or not envfile.read(stack_env_path):
        print(
            f"bench: starting the {profile.name} stack (python -m stack up --profile {profile.name}); "
            f"running before: {sorted(before) or 'nothing'}",
            flush=True,
        )
        completed = subprocess.run(
            [sys.executable, "-m", "stack", "up", "--profile", profile.name],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=UP_TIMEOUT_S,
            check=False,
        )
        if completed.returncode != 0:
            raise StackUnavailableError(f"python -m stack up failed:\n{completed.stdout}{completed.stderr}")
        session.started = sorted(every_part - before)
        session.started_supervisor = not supervised_before and supervision.supervisor_pid(profile.run_dir) is not None
    session.env = envfile.read(stack_env_path)
    missing = {"LUNTREX_BASE_URL", "DATABASE_URL"} - set(session.env)
    if missing:
        raise StackUnavailableError(f"{stack_env_path} lacks {sorted(missing)}")
    return session


def restore(session: StackSession) -> None:
    """Stop exactly the parts this bench started, services first, then Kafka and PostgreSQL."""
    if not session.started:
        return
    profile = session.profile
    print(f"bench: stopping what the bench started: {', '.join(session.started)}", flush=True)
    if session.started_supervisor:
        # It stops its own processes first; left running, it would restart the ones stopped below.
        supervision.stop_supervisor(profile.run_dir)
    for process in reversed(processes_for(profile)):
        if process.name in session.started:
            launcher.stop(process, profile.run_dir)
    if profile.brokers > 1:
        if any(name.startswith("kafka-") for name in session.started):
            stop_cluster(cluster_spec(profile))
    elif "kafka" in session.started:
        stop_kafka(profile.run_dir)
    if "postgres" in session.started:
        stop_postgres(profile.run_dir)


def service_pids(profile: Profile = DEV) -> dict[str, int]:
    """Pid of every running part of the profile's stack, by name (fakeprovider, ledger, workers, ingress, ...;
    in the cluster profile ledger-1, kafka-2, ...)."""
    pids: dict[str, int | None] = {
        process.name: launcher.process_pid(process, profile.run_dir) for process in processes_for(profile)
    }
    if profile.brokers > 1:
        pids |= {broker.name: broker_pid(broker) for broker in cluster_spec(profile).brokers}
    else:
        pids["kafka"] = kafka_pid(profile.run_dir)
    pids["postgres"] = postgres_pid(profile.run_dir)
    return {name: pid for name, pid in pids.items() if pid is not None}


def log_path(name: str) -> Path:
    return DEV.logs_dir / f"{name}.log"
