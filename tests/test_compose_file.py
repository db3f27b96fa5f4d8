"""docker-compose.yml runs what exists, restarts long-running services, and runs one-shot jobs once.

`make compose-check` validates the syntax with docker-compose itself; these check what it cannot know.
"""

from __future__ import annotations

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
