"""The `luntrex` CLI against the running stack: JSON out, and a clear non-zero exit on any error."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli import stackenv
from cli.main import main
from tests.batch_client import jsonl, line
from tests.conftest import ADMIN_KEY, Stack


def run(env_file: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args[:2], "--env-file", str(env_file), *args[2:]], catch_exceptions=False)


def stack_env(tmp_path: Path, stack: Stack, **extra: str) -> Path:
    path = tmp_path / "stack.env"
    lines = {"LUNTREX_BASE_URL": stack.base_url, "LUNTREX_ADMIN_KEY": ADMIN_KEY, **extra}
    path.write_text("".join(f"{name}={value}\n" for name, value in lines.items()))
    return path


def test_an_operator_sets_up_a_workspace_and_its_keys(stack: Stack, tmp_path: Path) -> None:
    env_file = stack_env(tmp_path, stack)
    created = run(env_file, "workspace", "create", "CLI team", "--topup-bdt", "2")
    assert created.exit_code == 0, created.output
    workspace = json.loads(created.stdout)
    assert workspace["api_key"].startswith("lx_live_") and workspace["balance"]["available_tokens"] == 1_000
    workspace_id = workspace["workspace_id"]

    shown = json.loads(run(env_file, "workspace", "show", workspace_id).stdout)
    assert shown["name"] == "CLI team"
    listed = json.loads(run(env_file, "workspace", "list", "--limit", "500").stdout)
    assert workspace_id in {entry["id"] for entry in listed["data"]}

    minted = run(
        env_file,
        "key",
        "create",
        workspace_id,
        "--scope",
        "inference",
        "--rpm",
        "30",
        "--expires",
        "30d",
        "--daily-spend",
        "5000",
    )
    assert minted.exit_code == 0, minted.output
    key = json.loads(minted.stdout)
    assert key["scopes"] == ["inference"] and key["rpm_max"] == 30 and key["expires_at"]
    assert key["daily_spend_max_tokens"] == 5_000

    answer = run(env_file, "chat", "hello from the CLI", "--model", "test/cheap", "--api-key", key["api_key"])
    assert answer.exit_code == 0, answer.output
    assert json.loads(answer.stdout)["model"] == "test/cheap"

    rotated = json.loads(run(env_file, "key", "rotate", key["api_key"], "--grace-s", "0").stdout)
    assert rotated["replaces"] == key["id"] and rotated["rpm_max"] == 30
    assert rotated["name"] == key["name"] and rotated["api_key"] == rotated["key"]
    again = run(env_file, "key", "rotate", key["id"])
    assert again.exit_code == 1 and "409 key_already_rotated" in again.output
    assert run(env_file, "key", "revoke", rotated["api_key"]).exit_code == 0
    keys = json.loads(run(env_file, "key", "list", workspace_id).stdout)["data"]
    assert [entry["revoked_at"] is not None for entry in keys] == [False, False, True]
    refused = run(env_file, "chat", "hello", "--api-key", rotated["api_key"])
    assert refused.exit_code == 1 and "401 invalid_api_key" in refused.output

    suspended = json.loads(run(env_file, "workspace", "suspend", workspace_id).stdout)
    assert suspended["suspended"] is True
    blocked = run(env_file, "chat", "hello", "--api-key", workspace["api_key"])
    assert blocked.exit_code == 1 and "403 workspace_suspended" in blocked.output


def test_errors_exit_non_zero_with_a_message(stack: Stack, tmp_path: Path) -> None:
    env_file = stack_env(tmp_path, stack)
    wrong = run(env_file, "workspace", "list", "--admin-key", "not-the-admin-key-at-all-0000")
    assert wrong.exit_code == 1 and "401 invalid_api_key" in wrong.output
    unreachable = run(env_file, "workspace", "list", "--base-url", "http://127.0.0.1:1/api/v1")
    assert unreachable.exit_code == 1 and "cannot reach" in unreachable.output
    missing = run(env_file, "workspace", "show", "ws_does_not_exist")
    assert missing.exit_code == 1 and "404 not_found" in missing.output
    bad_name = run(env_file, "workspace", "create", "nul\x01name")
    assert bad_name.exit_code == 1 and "400 invalid_request" in bad_name.output
    bad_expiry = run(env_file, "key", "create", "ws_x", "--expires", "yesterday")
    assert bad_expiry.exit_code == 2 and "--expires" in bad_expiry.output
    both = run(
        env_file, "workspace", "create", "both grants", "--id", "ws-cli-both", "--topup-bdt", "1", "--topup-tokens", "1"
    )
    assert both.exit_code == 2 and "--topup-bdt or --topup-tokens, not both" in both.output, both.output
    assert run(env_file, "workspace", "show", "ws-cli-both").exit_code == 1  # nothing was created
    zero = run(env_file, "key", "create", "ws_x", "--rpm", "0")
    assert zero.exit_code == 2
    no_key = run(tmp_path / "absent.env", "chat", "hi", "--base-url", stack.base_url)
    assert no_key.exit_code == 1 and "no credential" in no_key.output


def test_luntrex_topup_credits_once_per_key_and_refuses_bad_amounts(stack: Stack, tmp_path: Path) -> None:
    env_file = stack_env(tmp_path, stack)
    workspace_id = json.loads(run(env_file, "workspace", "create", "topup team").stdout)["workspace_id"]
    bought = run(env_file, "topup", workspace_id, "12.50", "--method", "card", "--idempotency-key", "cli-1")
    assert bought.exit_code == 0, bought.output
    topup = json.loads(bought.stdout)
    assert (topup["status"], topup["tokens"], topup["amount_paisa"]) == ("succeeded", 6_250, 1_250)
    again = json.loads(
        run(env_file, "topup", workspace_id, "12.50", "--method", "card", "--idempotency-key", "cli-1").stdout
    )
    assert again["id"] == topup["id"] and again["replayed"] is True
    shown = json.loads(run(env_file, "workspace", "show", workspace_id).stdout)
    assert shown["balance"]["available_tokens"] == 6_250
    for bad in ("0", "1e3", "1.234", "abc"):
        refused = run(env_file, "topup", workspace_id, bad)
        assert refused.exit_code == 1 and "400 invalid_request" in refused.output, refused.output
    missing = run(env_file, "topup", "ws_does_not_exist", "5")
    assert missing.exit_code == 1 and "404" in missing.output
    # The local card processor declines amounts ending in .02 BDT: the top-up is printed, and the exit code says so.
    declined = run(env_file, "topup", workspace_id, "1.02", "--method", "card")
    assert declined.exit_code == 1 and "failed" in declined.output, declined.output
    assert json.loads(declined.stdout)["status"] == "failed"
    assert json.loads(run(env_file, "workspace", "show", workspace_id).stdout)["balance"]["available_tokens"] == 6_250


def test_an_operator_sets_guardrails_on_a_workspace_and_on_a_key(stack: Stack, tmp_path: Path) -> None:
    env_file = stack_env(tmp_path, stack)
    workspace = json.loads(run(env_file, "workspace", "create", "CLI guarded", "--topup-bdt", "2").stdout)
    workspace_id = workspace["workspace_id"]
    rules = tmp_path / "workspace.json"
    rules.write_text(json.dumps({"deny": [{"name": "codenames", "keywords": ["Bluebird"]}], "redact": ["email"]}))
    changed = run(env_file, "workspace", "guardrails", workspace_id, "--set", str(rules))
    assert changed.exit_code == 0, changed.output
    assert json.loads(changed.stdout)["guardrails"]["deny"][0]["name"] == "codenames"
    shown = json.loads(run(env_file, "workspace", "guardrails", workspace_id).stdout)
    assert shown["guardrails"]["redact"] == ["email"]
    blocked = run(env_file, "chat", "tell me about Bluebird", "--api-key", workspace["api_key"])
    assert blocked.exit_code == 1 and "400 guardrail_blocked" in blocked.output and "codenames" in blocked.output

    key_rules = tmp_path / "key.json"
    key_rules.write_text(json.dumps({"deny": [{"name": "tickets", "pattern": "ACME-[0-9]+"}]}))
    minted = run(env_file, "key", "create", workspace_id, "--guardrails", str(key_rules))
    assert minted.exit_code == 0, minted.output
    key = json.loads(minted.stdout)
    by_key = run(env_file, "chat", "close ACME-42 please", "--model", "test/cheap", "--api-key", key["api_key"])
    assert by_key.exit_code == 1 and "400 guardrail_blocked" in by_key.output and "tickets" in by_key.output
    # The workspace's own key has no such rule: the same prompt passes there.
    passes = run(env_file, "chat", "close ACME-42 please", "--model", "test/cheap", "--api-key", workspace["api_key"])
    assert passes.exit_code == 0, passes.output

    cleared = run(env_file, "workspace", "guardrails", workspace_id, "--clear")
    assert cleared.exit_code == 0 and json.loads(cleared.stdout)["guardrails"] is None
    assert run(env_file, "chat", "Bluebird", "--model", "test/cheap", "--api-key", workspace["api_key"]).exit_code == 0

    not_json = tmp_path / "bad.json"
    not_json.write_text("deny: everything")
    refused = run(env_file, "workspace", "guardrails", workspace_id, "--set", str(not_json))
    assert refused.exit_code == 2 and "not JSON" in refused.output
    catastrophic = tmp_path / "catastrophic.json"
    catastrophic.write_text(json.dumps({"deny": [{"name": "nested", "pattern": "(a+)+$"}]}))
    refused = run(env_file, "workspace", "guardrails", workspace_id, "--set", str(catastrophic))
    assert refused.exit_code == 1 and "400 invalid_request" in refused.output and "nested" in refused.output


def test_an_operator_changes_a_keys_guardrails_after_it_is_minted(stack: Stack, tmp_path: Path) -> None:
    env_file = stack_env(tmp_path, stack)
    workspace = json.loads(run(env_file, "workspace", "create", "CLI key rails", "--topup-bdt", "2").stdout)
    key = json.loads(run(env_file, "key", "create", workspace["workspace_id"], "--name", "contractor").stdout)
    shown = run(env_file, "key", "guardrails", key["api_key"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["guardrails"] is None
    assert run(env_file, "chat", "close ACME-42", "--model", "test/cheap", "--api-key", key["api_key"]).exit_code == 0

    rules = tmp_path / "key.json"
    rules.write_text(json.dumps({"deny": [{"name": "tickets", "pattern": "ACME-[0-9]+"}]}))
    changed = run(env_file, "key", "guardrails", key["id"], "--set", str(rules))
    assert changed.exit_code == 0, changed.output
    assert json.loads(changed.stdout)["guardrails"]["deny"][0]["name"] == "tickets"
    assert json.loads(changed.stdout)["imposed"] == json.loads(changed.stdout)["guardrails"]
    blocked = run(env_file, "chat", "close ACME-42", "--model", "test/cheap", "--api-key", key["api_key"])
    assert blocked.exit_code == 1 and "400 guardrail_blocked" in blocked.output and "tickets" in blocked.output
    # The workspace's owner key is not touched: the same prompt passes there.
    passes = run(env_file, "chat", "close ACME-42", "--model", "test/cheap", "--api-key", workspace["api_key"])
    assert passes.exit_code == 0, passes.output

    cleared = run(env_file, "key", "guardrails", key["id"], "--clear")
    assert cleared.exit_code == 0 and json.loads(cleared.stdout)["guardrails"] is None, cleared.output
    assert run(env_file, "chat", "close ACME-42", "--model", "test/cheap", "--api-key", key["api_key"]).exit_code == 0

    both = run(env_file, "key", "guardrails", key["id"], "--set", str(rules), "--clear")
    assert both.exit_code == 2 and "exclusive" in both.output
    catastrophic = tmp_path / "catastrophic.json"
    catastrophic.write_text(json.dumps({"deny": [{"name": "nested", "pattern": "(a+)+$"}]}))
    refused = run(env_file, "key", "guardrails", key["id"], "--set", str(catastrophic))
    assert refused.exit_code == 1 and "400 invalid_request" in refused.output and "nested" in refused.output
    missing = run(env_file, "key", "guardrails", "000000000000")
    assert missing.exit_code == 1 and "404" in missing.output


def test_a_submitter_sends_a_jsonl_file_follows_its_batch_and_reads_the_results(stack: Stack, tmp_path: Path) -> None:
    operator = stack_env(tmp_path, stack)
    workspace = json.loads(run(operator, "workspace", "create", "CLI batches", "--topup-bdt", "20").stdout)
    (tmp_path / "submitter").mkdir()
    env_file = stack_env(tmp_path / "submitter", stack, LUNTREX_API_KEY=workspace["api_key"])
    good = [line(f"q{n}", f"Question {n}") for n in range(3)]
    upload = tmp_path / "input.jsonl"
    upload.write_bytes(jsonl(good) + b"not json\n")

    submitted = run(
        env_file, "batch", "submit", str(upload), "--metadata", '{"run": "cli"}', "--results-expire-after", "7d"
    )
    assert submitted.exit_code == 0, submitted.output
    created = json.loads(submitted.stdout)
    assert created["metadata"] == {"run": "cli"} and created["invalid_lines"] == 1
    assert [error["line"] for error in created["errors"]] == [4]
    batch_id = created["id"]
    for _ in range(300):
        shown = json.loads(run(env_file, "batch", "show", batch_id).stdout)
        if shown["status"] == "completed":
            break
        time.sleep(0.2)
    assert shown["status"] == "completed" and shown["counts"]["completed"] == 3 and shown["cost_tokens"] > 0
    assert shown["results_expire_at"] == shown["finished_at"] + 7 * 86_400

    saved = tmp_path / "results.jsonl"
    assert run(env_file, "batch", "results", batch_id, "--output", str(saved)).exit_code == 0
    rows = [json.loads(row) for row in saved.read_bytes().splitlines()]
    assert sorted(row["custom_id"] for row in rows) == ["q0", "q1", "q2"]
    printed = run(env_file, "batch", "results", batch_id)
    assert printed.stdout.encode() == saved.read_bytes()
    assert sum(row["cost_tokens"] for row in rows) == shown["cost_tokens"]
    listed = json.loads(run(env_file, "batch", "list", "--limit", "5").stdout)
    assert [entry["id"] for entry in listed["data"]] == [batch_id]

    refused = run(env_file, "batch", "submit", str(upload), "--all-or-nothing")
    assert refused.exit_code == 1 and "line 4: invalid_json" in refused.output
    assert len(json.loads(run(env_file, "batch", "list").stdout)["data"]) == 1  # nothing stored
    missing = run(env_file, "batch", "results", "batch_" + "0" * 32)
    assert missing.exit_code == 1 and "404" in missing.output
    # The operator's cancel of a finished batch changes nothing; of no batch, a 404.
    ended = json.loads(run(operator, "workspace", "cancel-batch", batch_id).stdout)
    assert ended["status"] == "completed" and ended["counts"]["completed"] == 3
    unknown = run(operator, "workspace", "cancel-batch", "batch_" + "0" * 32)
    assert unknown.exit_code == 1 and "404 not_found" in unknown.output


def test_an_operator_grants_credit_and_changes_limits_from_the_cli(stack: Stack, tmp_path: Path) -> None:
    env_file = stack_env(tmp_path, stack)
    created = run(
        env_file, "workspace", "create", "limits team", "--topup-tokens", "1000", "--rpm", "30", "--tpm", "5000"
    )
    assert created.exit_code == 0, created.output
    workspace = json.loads(created.stdout)
    workspace_id = workspace["workspace_id"]
    assert (workspace["rpm_max"], workspace["tpm_max"]) == (30, 5_000)

    granted = run(env_file, "workspace", "grant", workspace_id, "--tokens", "250", "--reason", "pilot")
    assert granted.exit_code == 0, granted.output
    assert json.loads(granted.stdout) == {"workspace_id": workspace_id, "granted_tokens": 250, "balance": 1_250}
    in_bdt = json.loads(run(env_file, "workspace", "grant", workspace_id, "--bdt", "1").stdout)
    assert in_bdt["granted_tokens"] == 500 and in_bdt["balance"] == 1_750

    changed = run(
        env_file,
        "workspace",
        "update",
        workspace_id,
        "--name",
        "limits team renamed",
        "--default-model",
        "test/cheap",
        "--credit-line-tokens",
        "300",
        "--rpm",
        "60",
        "--tpm",
        "9000",
    )
    assert changed.exit_code == 0, changed.output
    shown = json.loads(run(env_file, "workspace", "show", workspace_id).stdout)
    assert (shown["name"], shown["default_model"], shown["credit_line_tokens"]) == (
        "limits team renamed",
        "test/cheap",
        300,
    )
    assert (shown["rpm_max"], shown["tpm_max"]) == (60, 9_000)
    only_rpm = json.loads(run(env_file, "workspace", "update", workspace_id, "--rpm", "61").stdout)
    assert (only_rpm["rpm_max"], only_rpm["tpm_max"], only_rpm["name"]) == (61, 9_000, "limits team renamed")
    answer = run(env_file, "chat", "hello", "--api-key", workspace["api_key"])
    assert answer.exit_code == 0 and json.loads(answer.stdout)["model"] == "test/cheap", answer.output


def test_grant_and_update_refuse_bad_input_and_others_keep_working(stack: Stack, tmp_path: Path) -> None:
    env_file = stack_env(tmp_path, stack)
    bystander = json.loads(run(env_file, "workspace", "create", "bystander", "--topup-tokens", "5000").stdout)
    target = json.loads(run(env_file, "workspace", "create", "target", "--topup-tokens", "100").stdout)
    ws = target["workspace_id"]
    usage = [
        ("workspace", "grant", ws),
        ("workspace", "grant", ws, "--tokens", "5", "--bdt", "1"),
        ("workspace", "grant", ws, "--tokens", "0"),
        ("workspace", "update", ws),
        ("workspace", "update", ws, "--rpm", "0"),
        ("workspace", "update", ws, "--credit-line-tokens", "-1"),
        ("workspace", "create", "x", "--tpm", "0"),
    ]
    for args in usage:
        refused = run(env_file, *args)
        assert refused.exit_code == 2, (args, refused.output)
    hostile = [
        ("workspace", "grant", ws, "--tokens", "5", "--reason", "nul\x00reason"),
        ("workspace", "grant", ws, "--tokens", "5", "--reason", "esc\x1b[2J"),
        ("workspace", "update", ws, "--name", "bell\x07"),
        ("workspace", "update", ws, "--name", "rlo\u202ename"),
        ("workspace", "update", ws, "--default-model", "no/such\x00"),
        ("workspace", "grant", ws, "--tokens", str(10**16)),
        ("workspace", "update", ws, "--rpm", str(10**10)),
    ]
    for args in hostile:
        refused = run(env_file, *args)
        assert refused.exit_code == 1 and "400 invalid_request" in refused.output, (args, refused.output)
    assert run(env_file, "workspace", "grant", "ws_does_not_exist", "--tokens", "5").exit_code == 1
    unknown_model = run(env_file, "workspace", "update", ws, "--default-model", "no/such")
    assert unknown_model.exit_code == 1 and "404 model_not_found" in unknown_model.output, unknown_model.output
    shown = json.loads(run(env_file, "workspace", "show", ws).stdout)
    assert (shown["name"], shown["rpm_max"], shown["balance"]["available_tokens"]) == ("target", None, 100)

    answer = run(env_file, "chat", "still here", "--api-key", bystander["api_key"])
    assert answer.exit_code == 0, answer.output


def test_every_command_has_help_and_the_env_file_is_found_from_any_folder(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for group in ("workspace", "key", "webhook", "batch", "ledger"):
        listing = CliRunner().invoke(main, [group, "--help"]).output
        commands = listing.split("Commands:")[1].strip().splitlines()
        assert commands and all(len(line.split(None, 1)) == 2 for line in commands), (group, commands)

    # Outside the checkout (no .run/stack.env here), the checkout's env file is read.
    checkout_env = stack_env(tmp_path, stack)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("LUNTREX_BASE_URL", raising=False)
    monkeypatch.delenv("LUNTREX_ADMIN_KEY", raising=False)
    monkeypatch.setattr(stackenv, "CHECKOUT_ENV_FILE", checkout_env)
    listed = CliRunner().invoke(main, ["workspace", "list", "--limit", "1"])
    assert listed.exit_code == 0 and "data" in json.loads(listed.stdout), listed.output
    # Neither file: the error names the file it looked for and how to get or name one.
    monkeypatch.setattr(stackenv, "CHECKOUT_ENV_FILE", tmp_path / "none" / "stack.env")
    missing = CliRunner().invoke(main, ["workspace", "list", "--base-url", stack.base_url])
    assert missing.exit_code == 1, missing.output
    assert f"{tmp_path / 'none' / 'stack.env'} (which does not exist), or pass --env-file" in missing.output
