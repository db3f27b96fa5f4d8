"""Where each stack profile keeps its files, which ports it listens on, and how many of each part it runs.

The dev, test and cluster profiles use separate directories and ports so all of them can run at once. The
cluster profile runs three Kafka brokers (each also a KRaft controller) and two replicas of each service.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO_ROOT / ".cache"
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Profile:
    name: str
    run_dir: Path
    kafka_port: int
    kafka_controller_port: int
    postgres_port: int
    # Durability off (fsync, synchronous_commit, full_page_writes): only for throwaway test data.
    postgres_fast: bool
    # Brokers listen on kafka_port + i and their controllers on kafka_controller_port + i (i from 0).
    brokers: int = 1
    # Topic durability for every topic the stack creates (LUNTREX_KAFKA_REPLICATION_FACTOR, ..._MIN_INSYNC_REPLICAS).
    replication_factor: int = 1
    min_insync_replicas: int = 1
    # Processes of each service (ledger, workers, ingress); the fake provider always runs once.
    replicas: int = 1
    ingress_port: int = 8080
    fake_provider_port: int = 8700

    @property
    def broker_ports(self) -> tuple[int, ...]:
        return tuple(self.kafka_port + index for index in range(self.brokers))

    @property
    def controller_ports(self) -> tuple[int, ...]:
        return tuple(self.kafka_controller_port + index for index in range(self.brokers))

    @property
    def logs_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def services_env_path(self) -> Path:
        return self.run_dir / "services.env"


DEV = Profile(
    name="dev",
    run_dir=REPO_ROOT / ".run",
    kafka_port=9092,
    kafka_controller_port=9093,
    postgres_port=5433,
    postgres_fast=False,
)
TEST = Profile(
    name="test",
    run_dir=REPO_ROOT / ".run" / "test",
    kafka_port=29092,
    kafka_controller_port=29093,
    postgres_port=25433,
    postgres_fast=True,
)
# Ports clear of the dev (9092, 5433, 8080, 8700) and test (29092, 25433) profiles, and below Linux's
# ephemeral range (32768-60999): there, an outgoing connection's local port took 39092 once and the broker
# could not bind it.
CLUSTER = Profile(
    name="cluster",
    run_dir=REPO_ROOT / ".run" / "cluster",
    kafka_port=19092,
    kafka_controller_port=19192,
    postgres_port=15433,
    postgres_fast=False,
    brokers=3,
    replication_factor=3,
    min_insync_replicas=2,
    replicas=2,
    ingress_port=18080,
    fake_provider_port=18700,
)
PROFILES = {profile.name: profile for profile in (DEV, TEST, CLUSTER)}
