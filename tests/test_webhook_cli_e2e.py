"""`luntrex webhook ...` against the running stack, with a workspace key from the env file."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Stack
from tests.test_cli_e2e import run, stack_env


def test_luntrex_webhook_manages_endpoints_and_reads_their_log(stack: Stack, tmp_path: Path) -> None:
    operator = stack_env(tmp_path, stack)
    api_key = json.loads(run(operator, "workspace", "create", "hooks team").stdout)["api_key"]
    env_file = stack_env(tmp_path, stack, LUNTREX_API_KEY=api_key)

    created = run(env_file, "webhook", "create", "https://hooks.example.com/in", "--event", "job.completed")
    assert created.exit_code == 0, created.output
    endpoint = json.loads(created.stdout)
    assert endpoint["secret"].startswith("whsec_") and endpoint["event_types"] == ["job.completed"]
    endpoint_id = endpoint["id"]

    listed = json.loads(run(env_file, "webhook", "list").stdout)
    assert [e["id"] for e in listed["data"]] == [endpoint_id] and listed["data"][0]["secret"] is None
    updated = run(env_file, "webhook", "update", endpoint_id, "--disable", "--event", "job.failed")
    assert updated.exit_code == 0, updated.output
    assert json.loads(updated.stdout)["enabled"] is False
    assert json.loads(run(env_file, "webhook", "show", endpoint_id).stdout)["event_types"] == ["job.failed"]
    rotated = json.loads(run(env_file, "webhook", "rotate-secret", endpoint_id, "--grace-s", "60").stdout)
    assert rotated["secret"] != endpoint["secret"] and rotated["previous_secret_until"]
    assert json.loads(run(env_file, "webhook", "deliveries", endpoint_id).stdout) == {"data": [], "next_cursor": None}

    missing = run(env_file, "webhook", "redeliver", "999999999")
    assert missing.exit_code == 1 and "404 not_found" in missing.output, missing.output
    private = run(env_file, "webhook", "create", "http://169.254.169.254/", "--event", "job.completed")
    assert private.exit_code == 1 and "400 invalid_request" in private.output, private.output
    deleted = run(env_file, "webhook", "delete", endpoint_id)
    assert deleted.exit_code == 0 and json.loads(deleted.stdout)["deleted"] is True
    assert run(env_file, "webhook", "show", endpoint_id).exit_code == 1
