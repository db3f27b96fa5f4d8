"""Kafka and PostgreSQL for one profile: start both, stop both, and record where they listen."""

from __future__ import annotations

from dataclasses import dataclass

from stack import envfile
from stack.kafka import ensure_kafka, stop_kafka
from stack.kafka_cluster import ClusterSpec, ensure_cluster, stop_cluster
from stack.postgres import ensure_postgres, stop_postgres
from stack.profiles import Profile
from stack.progress import step


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap: str
    database_url: str


def ensure_services(profile: Profile) -> Endpoints:
    """Start (or find running) the profile's broker and cluster; write ``<run_dir>/services.env``."""
    profile.run_dir.mkdir(parents=True, exist_ok=True)
    with step(f"PostgreSQL on port {profile.postgres_port} (found running, or started)"):
        database_url = ensure_postgres(profile.run_dir, profile.postgres_port, fast=profile.postgres_fast)
    ports = ", ".join(str(port) for port in profile.broker_ports)
    with step(f"Kafka on port {ports} (found running, or started)"):
        if profile.brokers > 1:
            kafka_bootstrap = ensure_cluster(cluster_spec(profile))
        else:
            kafka_bootstrap = ensure_kafka(
                profile.run_dir, profile.kafka_port, profile.kafka_controller_port, _message_max_bytes()
            )
    envfile.write(
        profile.services_env_path,
        {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "DATABASE_URL": database_url},
    )
    return Endpoints(kafka_bootstrap=kafka_bootstrap, database_url=database_url)


def cluster_spec(profile: Profile) -> ClusterSpec:
    """The brokers of a multi-broker profile."""
    return ClusterSpec(
        run_dir=profile.run_dir,
        ports=profile.broker_ports,
        controller_ports=profile.controller_ports,
        message_max_bytes=_message_max_bytes(),
        replication_factor=profile.replication_factor,
        min_insync_replicas=profile.min_insync_replicas,
    )


def _message_max_bytes() -> int:
    """The services' record-size limit (LUNTREX_KAFKA_MESSAGE_MAX_BYTES or its default), for the broker."""
    # Imported here: pydantic-settings is not worth loading for `status`, `logs` or `down`.
    from runtime.settings import ServiceSettings

    return ServiceSettings().kafka_message_max_bytes


def stop_services(profile: Profile) -> list[str]:
    """Stop the profile's broker and cluster; the names of those that were running."""
    stopped = []
    if profile.brokers > 1:
        stopped += stop_cluster(cluster_spec(profile))
    elif stop_kafka(profile.run_dir):
        stopped.append("kafka")
    if stop_postgres(profile.run_dir):
        stopped.append("postgres")
    return stopped
