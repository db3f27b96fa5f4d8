"""A cluster-profile stack for tests: three real Kafka brokers and two replicas of each service, supervised.

It is the same code as ``python -m stack up --profile cluster`` (stack/kafka_cluster.py, the profile's
processes, the supervisor), in a temporary run directory on free ports, against the session's database on
the test PostgreSQL. Only what it started is stopped.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

from runtime.kafka import ensure_topics
from runtime.settings import ServiceSettings
from runtime.topics import topic_plan
from stack import launcher, supervision
from stack.kafka_cluster import ClusterSpec, broker_pid, ensure_cluster, start_broker, stop_cluster
from stack.plan import Entry, Plan
from stack.processes import Process, base_url, process_env, processes_for
from stack.profiles import CLUSTER, LOOPBACK, Profile
from stack.services import cluster_spec
from stack.supervisor import read_state

# Below Linux's ephemeral range (32768-60999), so no outgoing connection takes one between the check and the bind.
PORT_RANGE = (10_000, 32_000)
# Generous: three JVMs and seven Python processes start on two cores that other work may be using too.
START_BOUND_S = 300.0


@dataclass
class ClusterStack:
    profile: Profile
    spec: ClusterSpec
    processes: tuple[Process, ...]

    @property
    def base_url(self) -> str:
        return base_url(self.profile)

    @property
    def run_dir(self) -> Path:
        return self.profile.run_dir

    def process(self, name: str) -> Process:
        return next(process for process in self.processes if process.name == name)

    def pid(self, name: str) -> int | None:
        return launcher.process_pid(self.process(name), self.run_dir)

    def kill(self, name: str) -> int:
        """SIGKILL one supervised process (the supervisor will restart it); its pid."""
        pid = self.pid(name)
        assert pid is not None, f"{name} is not running"
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill_broker(self, node_id: int) -> int:
        broker = self.spec.brokers[node_id - 1]
        pid = broker_pid(broker)
        assert pid is not None, f"{broker.name} is not running"
        os.kill(pid, signal.SIGKILL)
        return pid

    def start_broker(self, node_id: int) -> int:
        return start_broker(self.spec, node_id, START_BOUND_S)

    def restarted(self, killed: dict[str, int]) -> bool:
        """True once the supervisor runs a new process for each killed one and that process is ready.

        Read from the supervisor's state, not the pid files: the supervisor rewrites those itself.
        """
        state = read_state(self.run_dir).get("processes", {})
        for name, old_pid in killed.items():
            pid = state.get(name, {}).get("pid")
            if pid is None or pid == old_pid or not launcher.is_healthy(self.process(name), self.run_dir, pid):
                return False
        return True

    def wait_healthy(self) -> None:
        launcher.wait_healthy(self.processes, self.run_dir, restarting=True, timeout_s=START_BOUND_S)


def free_port_runs(count: int, runs: int) -> list[int]:
    """Bases of ``runs`` runs of ``count`` consecutive free loopback ports (the profile numbers them so)."""
    bases: list[int] = []
    taken: set[int] = set()
    while len(bases) < runs:
        base = random.randrange(*PORT_RANGE)
        ports = set(range(base, base + count))
        if ports & taken or not all(_port_free(port) for port in ports):
            continue
        bases.append(base)
        taken |= ports
    return bases


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def start_cluster_stack(run_dir: Path, database_url: str, extra_env: dict[str, str]) -> ClusterStack:
    """Start the brokers, create the topics, start the supervisor and wait for every process.

    Blocking (it runs ``asyncio.run`` for the topics): call it from a thread in an async test. Whatever
    it started is stopped again when it fails.
    """
    kafka_base, controller_base, service_base = free_port_runs(CLUSTER.brokers, 3)
    profile = Profile(
        name="cluster-test",
        run_dir=run_dir,
        kafka_port=kafka_base,
        kafka_controller_port=controller_base,
        postgres_port=0,
        postgres_fast=True,
        brokers=CLUSTER.brokers,
        replication_factor=CLUSTER.replication_factor,
        min_insync_replicas=CLUSTER.min_insync_replicas,
        replicas=CLUSTER.replicas,
        ingress_port=service_base,
        fake_provider_port=service_base + 1,
    )
    stack = ClusterStack(profile, cluster_spec(profile), processes_for(profile))
    try:
        bootstrap = ensure_cluster(stack.spec, START_BOUND_S)
        settings = ServiceSettings(
            kafka_bootstrap_servers=bootstrap,
            kafka_replication_factor=profile.replication_factor,
            kafka_min_insync_replicas=profile.min_insync_replicas,
        )
        asyncio.run(ensure_topics(settings, topic_plan(settings.load_catalogue())))
        entries = tuple(
            Entry(process, {**process_env(process, run_dir, bootstrap, database_url, profile=profile), **extra_env})
            for process in stack.processes
        )
        supervision.ensure_supervisor(run_dir, Plan(entries))
        stack.wait_healthy()
    except BaseException:
        stop_cluster_stack(stack)
        raise
    return stack


def stop_cluster_stack(stack: ClusterStack) -> None:
    """Stop the supervisor (it stops its processes), anything left, then the brokers."""
    supervision.stop_supervisor(stack.run_dir)
    for process in stack.processes:
        launcher.stop(process, stack.run_dir)
    stop_cluster(stack.spec)
