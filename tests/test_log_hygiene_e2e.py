"""Service logs are JSON lines naming request, job and workspace, and never carry a prompt, an answer or a key."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.logs import JsonFormatter, bind, redact, unbind
from runtime.tracing import Tracing
from schemas.catalogue import Catalogue
from schemas.events import ChatJobDispatched, ChatParameters, PromptMessage, UsageRecorded
from tests.conftest import ADMIN_KEY, Stack, make_workspace
from workers.settings import WorkerSettings
from workers.telemetry import WorkerTelemetry

FIELDS = {"time", "level", "service", "logger", "message", "request_id", "job_id", "workspace_id"}


@pytest.mark.integration
async def test_prompts_answers_and_keys_never_reach_a_log(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    marker = f"MARKER{uuid.uuid4().hex}"
    workspace = await make_workspace(engine, tokens=1_000_000)
    # `lx_live_<key id>_<secret>`: the id is hex, but the secret is URL-safe base64 and may itself hold "_", so
    # the key splits after its id (a split at the last "_" once took a one-letter tail for the secret).
    key_id, secret = workspace.api_key.removeprefix("lx_live_").split("_", 1)
    assert len(secret) >= 40, "not the key format this test reads"
    chat = {"model": "openai/gpt-4.1-mini", "messages": [{"role": "user", "content": f"say {marker}"}]}
    assert (await client.post("/chat/completions", headers=workspace.headers, json=chat)).status_code == 200
    # Refused and failed paths log more than the happy one: a NUL, an unknown field, a wrong secret, an
    # unknown model, a provider refusal and a provider outage.
    nul = {**chat, "messages": [{"role": "user", "content": f"{marker}\x00"}]}
    assert (await client.post("/chat/completions", headers=workspace.headers, json=nul)).status_code == 400
    extra = {**chat, marker: marker}
    assert (await client.post("/chat/completions", headers=workspace.headers, json=extra)).status_code == 400
    wrong = {**workspace.headers, "Authorization": f"Bearer lx_live_{key_id}_{marker}"}
    assert (await client.post("/chat/completions", headers=wrong, json=chat)).status_code == 401
    unknown = {**chat, "model": marker}
    assert (await client.post("/chat/completions", headers=workspace.headers, json=unknown)).status_code == 404
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    assert (await client.get("/admin/workspaces", headers=admin)).status_code == 200
    async with httpx.AsyncClient(base_url=stack.fake_url, timeout=10) as fake:
        for status in (400, 503):
            scenario = {"model": "test-observed", "fail_status": status}
            (await fake.post("/_fake/scenario", json=scenario)).raise_for_status()
            try:
                observed = {**chat, "model": "test/observed", "routing": {"fallbacks": ["test/observed"]}}
                answer = await client.post("/chat/completions", headers=workspace.headers, json=observed)
                assert answer.status_code in (400, 502), answer.text
            finally:
                await fake.delete("/_fake/scenario", params={"model": "test-observed"})
    await asyncio.sleep(1.0)  # the last lines of the ledger and workers

    logs = {
        part.name: part.log_path.read_text(errors="replace") for part in (stack.ingress, stack.ledger, stack.workers)
    }
    logs["fakeprovider"] = stack.fakeprovider.log_path.read_text(errors="replace")
    for name, text in logs.items():
        for needle in (marker, secret, ADMIN_KEY):
            assert needle not in text, f"{name}'s log carries {needle[:12]}..."
    for name in ("ingress", "ledger", "workers"):
        for line in logs[name].splitlines():
            document = json.loads(line)
            assert set(document) >= FIELDS, line
            assert document["service"] == name
    # The worker's lines about the failed calls name their job and its workspace.
    worker_lines = [json.loads(line) for line in logs["workers"].splitlines()]
    named = [d for d in worker_lines if d["workspace_id"] == workspace.id and str(d["job_id"]).startswith("job_")]
    assert len({d["job_id"] for d in named}) == 2, "the worker's lines do not name both failed jobs"


def _record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("test", logging.WARNING, __file__, 1, message, args, None)


def test_a_log_line_is_one_json_object_with_the_bound_ids() -> None:
    formatter = JsonFormatter("ingress")
    tokens = bind(request_id="req_1", job_id="job_1", workspace_id="ws_1")
    try:
        document = json.loads(formatter.format(_record("job %s ended", "job_1")))
    finally:
        unbind(tokens)
    assert document["request_id"] == "req_1" and document["job_id"] == "job_1" and document["workspace_id"] == "ws_1"
    assert document["level"] == "WARNING" and document["service"] == "ingress"
    assert json.loads(formatter.format(_record("outside")))["job_id"] is None


def test_secrets_are_scrubbed_from_any_line() -> None:
    line = "calling with Authorization: Bearer abc.def and key lx_live_k123_s3cr3tS3cr3t and whsec_AAAAAAAAAA"
    scrubbed = redact(line)
    for secret in ("abc.def", "s3cr3tS3cr3t", "whsec_AAAAAAAAAA"):
        assert secret not in scrubbed
    assert redact("an ordinary line") == "an ordinary line"


def test_payloads_are_logged_only_when_the_debug_setting_says_so(
    catalogue: Catalogue, caplog: pytest.LogCaptureFixture
) -> None:
    job = ChatJobDispatched(
        workspace_id="ws_1",
        job_id="job_1",
        model_id="openai/gpt-4.1-mini",
        route=("openai/gpt-4.1-mini",),
        hold_tokens=10,
        params=ChatParameters(messages=(PromptMessage(role="user", content="the secret plan"),), max_tokens=5),
    )
    usage = UsageRecorded(workspace_id="ws_1", job_id="job_1", outcome="completed", answer="the answer")
    caplog.set_level(logging.INFO, logger="workers.telemetry")
    WorkerTelemetry(WorkerSettings(), catalogue, Tracing()).job_finished("openai", job, usage)
    assert "the secret plan" not in caplog.text and "the answer" not in caplog.text
    WorkerTelemetry(WorkerSettings(log_payloads=True), catalogue, Tracing()).job_finished("openai", job, usage)
    assert "the secret plan" in caplog.text and "the answer" in caplog.text
