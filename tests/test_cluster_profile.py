"""The cluster profile's shape: ports clear of the others, two of each service, durable topics, acks=all and
idempotence in every producer, and ingress replicas sharing one port. The dev profile is unchanged."""

from __future__ import annotations

import socket

import pytest
from aiokafka import AIOKafkaProducer

from ingress.server import shared_socket
from ledger.app import new_faust_app
from ledger.settings import LedgerSettings
from runtime.kafka import new_producer
from runtime.settings import ServiceSettings
from stack.processes import PROCESSES, process_env, processes_for
from stack.profiles import CLUSTER, DEV, LOOPBACK, TEST, Profile
from tests.cluster import free_port_runs


def test_the_cluster_profile_listens_apart_from_the_dev_and_test_profiles() -> None:
    def ports(profile: Profile) -> set[int]:
        return {
            *profile.broker_ports,
            *profile.controller_ports,
            profile.postgres_port,
            profile.ingress_port,
            profile.fake_provider_port,
        }

    assert CLUSTER.broker_ports == (19092, 19093, 19094)
    assert not ports(CLUSTER) & (ports(DEV) | ports(TEST))
    # Below the ephemeral range, so no outgoing connection can hold one of them.
    assert max(ports(CLUSTER)) < 32768
    assert CLUSTER.run_dir != DEV.run_dir != TEST.run_dir


def test_the_cluster_runs_two_of_each_service_and_the_dev_profile_one() -> None:
    assert processes_for(DEV) == PROCESSES
    names = [process.name for process in processes_for(CLUSTER)]
    assert names == [
        "fakeprovider",
        "ledger-1",
        "ledger-2",
        "dispatcher",
        "workers-1",
        "workers-2",
        "ingress-1",
        "ingress-2",
    ]
    # Each replica connects to PostgreSQL as its service's role; the workers get no database.
    roles = {process.name: process.db_role for process in processes_for(CLUSTER)}
    assert roles["ledger-2"] == roles["dispatcher"] == "ledger" and roles["ingress-2"] == "ingress"
    assert roles["workers-1"] is None
    ingress = [process for process in processes_for(CLUSTER) if process.module == "ingress"]
    assert {process.port for process in ingress} == {CLUSTER.ingress_port}
    # A health request to the shared port could reach either replica: each reports through its ready file.
    assert all(
        process.health_path is None and ("LUNTREX_REUSE_PORT", "true") in process.extra_env for process in ingress
    )


def test_cluster_processes_create_and_expect_replicated_topics_and_dev_ones_keep_the_defaults() -> None:
    bootstrap = ",".join(f"{LOOPBACK}:{port}" for port in CLUSTER.broker_ports)
    for process in processes_for(CLUSTER):
        env = process_env(process, CLUSTER.run_dir, bootstrap, "postgresql+psycopg://x@h/d", profile=CLUSTER)
        settings = ServiceSettings.model_validate(
            {key.removeprefix("LUNTREX_").lower(): value for key, value in env.items() if key.startswith("LUNTREX_")}
        )
        assert (settings.kafka_replication_factor, settings.kafka_min_insync_replicas) == (3, 2), process.name
        assert settings.kafka_bootstrap_servers == bootstrap
        assert str(CLUSTER.fake_provider_port) in env["LUNTREX_PROVIDER_BASE_URLS"]
    dev_env = process_env(PROCESSES[1], DEV.run_dir, "127.0.0.1:9092", "postgresql+psycopg://x@h/d")
    assert "LUNTREX_KAFKA_REPLICATION_FACTOR" not in dev_env
    assert "127.0.0.1:8700" in dev_env["LUNTREX_PROVIDER_BASE_URLS"]


def assert_acks_all_and_idempotent(producer: AIOKafkaProducer) -> None:
    # aiokafka keeps both private: the transaction manager exists only with idempotence on.
    assert producer._txn_manager is not None, "idempotence is off"
    assert producer._sender._acks == -1


async def test_every_producer_waits_for_all_in_sync_replicas_and_is_idempotent() -> None:
    # ingress (publisher, key directory, ledger commands) and workers build theirs with runtime.kafka.
    assert_acks_all_and_idempotent(new_producer(ServiceSettings()))
    # The ledger's Faust app builds its own through Faust's transport.
    app = new_faust_app(LedgerSettings())
    assert_acks_all_and_idempotent(app.producer._new_producer())


def test_ingress_replicas_share_one_port_only_with_reuse_port() -> None:
    (port,) = free_port_runs(1, 1)
    first, second = shared_socket(LOOPBACK, port), shared_socket(LOOPBACK, port)
    try:
        with socket.socket() as plain, pytest.raises(OSError):
            plain.bind((LOOPBACK, port))
    finally:
        first.close()
        second.close()
