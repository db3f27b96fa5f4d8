"""The webhook dispatcher is a registered process everywhere the stack runs: `make up`'s plan and docker-compose."""

from __future__ import annotations

from pathlib import Path

import yaml

from stack.processes import PROCESSES, process_env
from stack.provisioning import runnable
from tests.services import ROOT


def test_make_up_starts_the_dispatcher_with_loopback_receivers_allowed(tmp_path: Path) -> None:
    by_module = {process.module: process for process in PROCESSES}
    dispatcher = by_module["ledger.dispatcher"]
    assert runnable(dispatcher.module) and dispatcher.health_path is None  # healthy once its ready file exists
    for module in ("ledger.dispatcher", "ledger"):
        env = process_env(by_module[module], tmp_path, "k:9092", "postgresql://x")
        assert env["LUNTREX_WEBHOOK_ALLOWED_NETWORKS"] == '["127.0.0.0/8"]'
    # The pid check tells the ledger and the dispatcher apart.
    assert by_module["ledger"].cmdline_marker not in f"python -m {dispatcher.module} "


def test_docker_compose_runs_the_dispatcher() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["dispatcher"]
    assert service["command"] == ["python", "-m", "ledger.dispatcher"]
    assert "healthcheck" in service and service["restart"] == "unless-stopped"
    # No allow-list in containers: receivers are elsewhere, and only public addresses are reached.
    assert "LUNTREX_WEBHOOK_ALLOWED_NETWORKS" not in service["environment"]
