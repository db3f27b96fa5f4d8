"""docker-compose.yml runs what exists, restarts long-running services, and runs one-shot jobs once; its
cluster shape (deploy/compose/cluster.env) is three brokers and two of each service, durable as the README says.

`make compose-check` validates the syntax with docker-compose itself; these check what it cannot know, on the
file as docker-compose renders it (`docker-compose config`), with and without the cluster shape.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

import yaml

from stack.provisioning import runnable
from tests.services import ROOT

ONE_SHOT_JOBS = {"migrate", "seed"}
CLUSTER_ENV_FILE = ROOT / "deploy" / "compose" / "cluster.env"
BROKERS = ("kafka", "kafka-2", "kafka-3")
# The cluster shape's second replica of each service, and the service it copies.
TWINS = {"ledger-2": "ledger", "workers-2": "workers", "ingress-2": "ingress"}
APP_SERVICES = ("migrate", "fakeprovider", "ledger", "workers", "seed", "ingress")


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def rendered(*options: str) -> dict[str, Any]:
    """The file as docker-compose resolves it (variables, anchors, profiles), from a clean environment."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith(("LUNTREX_", "COMPOSE_"))}
    for arguments in (["config", "-q"], ["config"]):
        result = subprocess.run(
            ["docker-compose", *options, *arguments],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"docker-compose {' '.join(options)} {arguments}: {result.stderr}"
    document: dict[str, Any] = yaml.safe_load(result.stdout)
    return document


def python_modules(command: list[str] | str) -> list[str]:
    """Every `python -m <module>` a service's command runs, shell one-liners included."""
    words = command.split() if isinstance(command, str) else " ".join(command).split()
    return [words[index + 1] for index, word in enumerate(words[:-1]) if word == "-m"]


def test_every_module_a_service_runs_exists() -> None:
    for name, service in compose()["services"].items():
        for module in python_modules(service.get("command", [])):
            assert runnable(module), f"service {name} runs python -m {module}, which does not exist"


def test_services_restart_unless_stopped_with_a_healthcheck_and_jobs_run_once() -> None:
    services = compose()["services"]
    for name, service in services.items():
        if name in ONE_SHOT_JOBS:
            assert service["restart"] == "no", name
        else:
            assert service["restart"] == "unless-stopped", name
            assert "test" in service["healthcheck"], name
    assert python_modules(services["seed"]["command"]) == ["stack.seed"]
    assert services["ingress"]["depends_on"] == {
        "ledger": {"condition": "service_healthy"},
        "workers": {"condition": "service_healthy"},
    }


def test_the_broker_and_the_clients_share_one_record_size_limit() -> None:
    services = compose()["services"]
    broker = services["kafka"]["environment"]
    limits = {broker["KAFKA_MESSAGE_MAX_BYTES"], broker["KAFKA_REPLICA_FETCH_MAX_BYTES"]}
    limits |= {
        service["environment"]["LUNTREX_KAFKA_MESSAGE_MAX_BYTES"]
        for name, service in services.items()
        if name not in {*BROKERS, "postgres", "prometheus"}
    }
    assert limits == {"8388608"}


def test_each_service_connects_as_its_own_role_with_the_passwords_the_migrate_job_sets() -> None:
    # `make test` installs docker-compose (compose-check) before pytest runs; render what it would run.
    environment = {**os.environ, "LUNTREX_DB_INGRESS_PASSWORD": "pw-ingress-1", "LUNTREX_DB_LEDGER_PASSWORD": "pw-led"}
    rendered = subprocess.run(
        ["docker-compose", "config"], cwd=ROOT, env=environment, capture_output=True, text=True, check=True
    ).stdout
    services = yaml.safe_load(rendered)["services"]
    url = {
        name: services[name]["environment"]["LUNTREX_DATABASE_URL"]
        for name in ("ingress", "ledger", "workers", "fakeprovider")
    }
    assert url["ingress"].startswith("postgresql+psycopg://luntrex_ingress:pw-ingress-1@")
    assert url["ledger"].startswith("postgresql+psycopg://luntrex_ledger:pw-led@")
    assert services["dispatcher"]["environment"]["LUNTREX_DATABASE_URL"] == url["ledger"]
    assert url["workers"] == "" and url["fakeprovider"] == ""
    migrate = services["migrate"]
    assert migrate["environment"]["LUNTREX_DB_INGRESS_PASSWORD"] == "pw-ingress-1"
    assert migrate["environment"]["LUNTREX_DB_LEDGER_PASSWORD"] == "pw-led"
    assert python_modules(migrate["command"]) == ["runtime.db_roles", "runtime.topics"]


def test_by_default_one_broker_with_replication_one_and_no_second_replicas() -> None:
    services = rendered()["services"]
    assert services["kafka"]["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        assert environment["LUNTREX_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092", name
        assert (environment["LUNTREX_KAFKA_REPLICATION_FACTOR"], environment["LUNTREX_KAFKA_MIN_INSYNC_REPLICAS"]) == (
            "1",
            "1",
        )
    # Profiled services start only with their profile: plain `docker-compose up` is the single-broker stack.
    profiled = {name for name, service in compose()["services"].items() if service.get("profiles")}
    assert profiled == {"kafka-2", "kafka-3", *TWINS}
    assert all(compose()["services"][name]["profiles"] == ["cluster"] for name in profiled)


def test_the_cluster_shape_is_three_brokers_replication_three_min_insync_two() -> None:
    services = rendered("--profile", "cluster", "--env-file", str(CLUSTER_ENV_FILE))["services"]
    voters = "1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093"
    for node_id, name in enumerate(BROKERS, start=1):
        broker = services[name]["environment"]
        assert str(broker["KAFKA_NODE_ID"]) == str(node_id)
        assert broker["KAFKA_CONTROLLER_QUORUM_VOTERS"] == voters
        assert broker["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
        for setting in ("DEFAULT_REPLICATION_FACTOR", "OFFSETS_TOPIC_REPLICATION_FACTOR"):
            assert str(broker[f"KAFKA_{setting}"]) == "3", (name, setting)
        assert str(broker["KAFKA_MIN_INSYNC_REPLICAS"]) == str(broker["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"]) == "2"
        assert services[name]["volumes"] != services["kafka"]["volumes"] or name == "kafka"
    for name in (*APP_SERVICES, *TWINS):
        environment = services[name]["environment"]
        assert environment["LUNTREX_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092,kafka-2:9092,kafka-3:9092", name
        assert environment["LUNTREX_KAFKA_REPLICATION_FACTOR"] == "3", name
        assert environment["LUNTREX_KAFKA_MIN_INSYNC_REPLICAS"] == "2", name
    for twin, original in TWINS.items():
        assert services[twin]["command"] == services[original]["command"], twin
        assert services[twin]["environment"] == services[original]["environment"], twin
    assert services["ingress-2"]["ports"] != services["ingress"]["ports"]
