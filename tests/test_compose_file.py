"""docker-compose.yml runs what exists, restarts long-running services, and runs one-shot jobs once.

`make compose-check` validates the syntax with docker-compose itself; these check what it cannot know.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

import yaml

from stack.provisioning import runnable
from tests.services import ROOT

ONE_SHOT_JOBS = {"migrate", "seed"}


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
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
        if name not in {"kafka", "postgres", "prometheus"}
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
