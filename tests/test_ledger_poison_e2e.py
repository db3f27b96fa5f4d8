"""One bad event costs one job, never the pipeline: every poison the ledger can meet, sent straight to its topics.

Ingress or the workers may refuse some of these at their door; the ledger must survive each anyway. For every
kind: the bad job reaches one terminal state with no open hold and its caller is answered on jobs.results,
the event is dead-lettered with its reason and origin, and another workspace's request then completes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.settings import ServiceSettings
from schemas import topics
from schemas.events import ChatJobSubmitted, ChatParameters, EventDeadLettered, JobFinished, PromptMessage, decode
from tests.conftest import Stack, Workspace, make_workspace
from tests.kafka_probe import publish, read_all
from tests.ledger_checks import assert_books_balance, balances

PROMPT = {"messages": [{"role": "user", "content": "Explain decorators in Python"}], "max_tokens": 64}
# The fake provider takes this long for this one call: the job stays queued while the poison usage arrives.
SLOW_PROMPT = {"messages": [{"role": "user", "content": "[fake latency_ms=6000] slow"}], "max_tokens": 64}


def submission(workspace: Workspace, **changes: Any) -> dict[str, Any]:
    job = ChatJobSubmitted(
        workspace_id=workspace.id,
        job_id=f"job_{uuid.uuid4().hex}",
        api_key_id=workspace.key_id,
        model_id="openai/gpt-4.1-mini",
        route=("openai/gpt-4.1-mini",),
        input_tokens_estimate=12,
        params=ChatParameters(messages=(PromptMessage(role="user", content="hi"),), max_tokens=32),
    )
    document: dict[str, Any] = json.loads(job.model_dump_json())
    document.update(changes)
    return document


def usage(workspace: Workspace, job_id: str, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "type": "chat.usage.recorded",
        "version": 1,
        "event_id": uuid.uuid4().hex,
        "occurred_at": "2026-01-01T00:00:00Z",
        "workspace_id": workspace.id,
        "job_id": job_id,
        "outcome": "completed",
        "model_id": "openai/gpt-4.1-mini",
        "provider": "openai",
        "input_tokens": 10,
        "output_tokens": 5,
        "answer": "fine",
        "finish_reason": "stop",
        "attempts": 1,
    }
    document.update(changes)
    return document


def with_tag(tag: str) -> Callable[[Workspace], dict[str, Any]]:
    def build(workspace: Workspace) -> dict[str, Any]:
        document = submission(workspace)
        document["params"]["tags"] = ["eval", tag]
        return document

    return build


RECORD_MAX_BYTES = ServiceSettings().kafka_message_max_bytes


def huge_prompt(workspace: Workspace) -> dict[str, Any]:
    document = submission(workspace)
    # The submission fits the topic; its dispatch (the same prompt and a few more fields) is over the
    # ledger's producer limit (the one record limit of every hop).
    document["params"]["messages"] = [{"role": "user", "content": "x" * (RECORD_MAX_BYTES - 1_300)}]
    return document


SUBMITTED_POISON: dict[str, tuple[Callable[[Workspace], dict[str, Any]], str, str]] = {
    "nul_in_tag": (with_tag("a\x00b"), "rejected", "invalid_request"),
    "model_removed_while_queued": (
        lambda ws: submission(ws, model_id="test/removed", route=["test/removed"]),
        "rejected",
        "model_not_found",
    ),
    "newer_version": (lambda ws: submission(ws, version=2, priority_class="gold"), "rejected", "internal_error"),
    "missing_fields": (
        lambda ws: {"job_id": f"job_{uuid.uuid4().hex}", "workspace_id": ws.id},
        "rejected",
        "invalid_request",
    ),
    "absurd_estimate": (lambda ws: submission(ws, input_tokens_estimate=2**63), "rejected", "invalid_request"),
    "dispatch_too_large": (huge_prompt, "rejected", "payload_too_large"),
    # The early-start flag (whether ingress sent the job a head start) is a boolean or absent, nothing else.
    "nul_early_start": (lambda ws: submission(ws, early_start="\x00"), "rejected", "invalid_request"),
    "absurd_early_start": (lambda ws: submission(ws, early_start=2**70), "rejected", "invalid_request"),
}

USAGE_POISON: dict[str, tuple[dict[str, Any], str]] = {
    "nul_in_answer": ({"answer": "be\x00fore"}, "upstream_error"),
    "nul_in_provider_error": (
        {"outcome": "failed", "answer": None, "error": {"code": "upstream_error", "message": "bad\x00gateway"}},
        "upstream_error",
    ),
    "negative_tokens": ({"output_tokens": -5}, "upstream_error"),
    "tokens_at_2_63": ({"input_tokens": 2**63}, "upstream_error"),
    "model_removed_while_running": ({"model_id": "test/removed"}, "model_not_found"),
    "newer_version": ({"version": 2, "billing_v2": {"credits": 1}}, "internal_error"),
    # The report fits the topic; the result carrying the same answer is over the ledger's producer limit.
    "result_too_large_to_publish": ({"answer": "y" * (RECORD_MAX_BYTES - 500)}, "upstream_error"),
}


async def job_row(engine: AsyncEngine, job_id: str) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(text("SELECT status, hold_tokens, error FROM jobs WHERE id = :id"), {"id": job_id})
        ).first()


async def wait_for_status(engine: AsyncEngine, job_id: str, statuses: set[str], timeout_s: float = 20) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = await job_row(engine, job_id)
        if row is not None and row.status in statuses:
            return row
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached {statuses}: {await job_row(engine, job_id)}")


async def dead_letters(stack: Stack) -> list[EventDeadLettered]:
    topic = topics.prefixed(stack.topic_prefix, topics.DEAD_LETTERS)
    return [decode(EventDeadLettered, value) for value in await read_all(stack.kafka, topic)]


async def wait_for_dead_letter(stack: Stack, match: Callable[[EventDeadLettered], bool]) -> EventDeadLettered:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = [letter for letter in await dead_letters(stack) if match(letter)]
        if found:
            return found[0]
        await asyncio.sleep(0.2)
    raise AssertionError("no dead letter for the poison event")


async def results_for(stack: Stack, job_id: str) -> list[JobFinished]:
    topic = topics.prefixed(stack.topic_prefix, topics.JOBS_RESULTS)
    return [decode(JobFinished, v) for v in await read_all(stack.kafka, topic, key=topics.job_key(job_id))]


async def assert_another_workspace_completes(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    other = await make_workspace(engine, tokens=10_000)
    started = time.monotonic()
    response = await client.post("/chat/completions", json=PROMPT, headers={**other.headers, "Prefer": "wait=10"})
    assert response.status_code == 200, response.text
    assert time.monotonic() - started < 10


async def publish_json(stack: Stack, name: str, workspace: Workspace, document: dict[str, Any]) -> None:
    topic = topics.prefixed(stack.topic_prefix, name)
    await publish(stack.kafka, topic, topics.ledger_key(workspace.id), json.dumps(document).encode())


@pytest.mark.parametrize("kind", SUBMITTED_POISON)
async def test_a_poison_submission_ends_its_job_and_billing_goes_on(
    kind: str, client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    build, status, code = SUBMITTED_POISON[kind]
    workspace = await make_workspace(engine, tokens=10_000)
    hook = await client.post(
        "/webhooks",
        json={"url": "https://hooks.example.com/luntrex", "event_types": ["job.failed"]},
        headers=workspace.headers,
    )
    assert hook.status_code == 201, hook.text
    document = build(workspace)
    await publish_json(stack, topics.JOBS_SUBMITTED, workspace, document)

    row = await wait_for_status(engine, document["job_id"], {status})
    assert row.hold_tokens == 0 and row.error["code"] == code
    letter = await wait_for_dead_letter(stack, lambda letter: letter.job_id == document["job_id"])
    assert letter.consumer == "ledger.admission" and letter.reason
    assert letter.source_topic == topics.prefixed(stack.topic_prefix, topics.JOBS_SUBMITTED)
    assert letter.source_offset is not None and letter.value_bytes > 0
    [finished] = await results_for(stack, document["job_id"])  # the waiting caller is answered, once
    assert finished.status == status and finished.error is not None and finished.error.code == code
    assert "\x00" not in finished.error.message
    # The workspace's endpoint for job.failed is told, once, like for any job admission refuses.
    assert await job_events(engine, document["job_id"]) == [(hook.json()["id"], "job.failed", status)]
    assert await balances(engine, workspace.id) == {"available": 10_000, "held": 0, "spent": 0, "funding": -10_000}
    await assert_another_workspace_completes(client, engine)
    await assert_books_balance(engine)


async def job_events(engine: AsyncEngine, job_id: str) -> list[tuple[str, str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT endpoint_id, event_type, payload FROM webhook_deliveries WHERE event_id = :id"),
            {"id": f"evt_{job_id}"},
        )
        return [(row.endpoint_id, row.event_type, row.payload["status"]) for row in rows]


async def test_an_undecodable_submission_is_dead_lettered_and_billing_goes_on(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    topic = topics.prefixed(stack.topic_prefix, topics.JOBS_SUBMITTED)
    marker = uuid.uuid4().hex.encode()
    await publish(stack.kafka, topic, b"ws_nobody", b"\xff\xfe not json at all " + marker)
    letter = await wait_for_dead_letter(stack, lambda letter: marker in _original(letter))
    assert letter.job_id is None and letter.key_b64 is not None
    await assert_another_workspace_completes(client, engine)


@pytest.mark.parametrize("kind", USAGE_POISON)
async def test_a_poison_usage_report_fails_its_job_releases_its_hold_and_billing_goes_on(
    kind: str, client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    changes, code = USAGE_POISON[kind]
    workspace = await make_workspace(engine, tokens=10_000)
    headers = {**workspace.headers, "Prefer": "respond-async"}
    accepted = await client.post("/chat/completions", json=SLOW_PROMPT, headers=headers)
    assert accepted.status_code == 202
    job_id = accepted.json()["id"]
    row = await wait_for_status(engine, job_id, {"queued"})
    assert row.hold_tokens > 0  # admitted and held; its provider call is still running

    await publish_json(stack, topics.JOBS_USAGE, workspace, usage(workspace, job_id, **changes))

    row = await wait_for_status(engine, job_id, {"failed"})
    assert row.error["code"] == code
    letter = await wait_for_dead_letter(stack, lambda letter: letter.job_id == job_id)
    assert letter.consumer == "ledger.settlement"
    assert letter.source_topic == topics.prefixed(stack.topic_prefix, topics.JOBS_USAGE)
    [finished, *_] = await results_for(stack, job_id)
    assert finished.status == "failed" and finished.answer is None and finished.cost_tokens == 0
    assert await balances(engine, workspace.id) == {"available": 10_000, "held": 0, "spent": 0, "funding": -10_000}
    await assert_another_workspace_completes(client, engine)
    await assert_books_balance(engine)


def _original(letter: EventDeadLettered) -> bytes:
    return base64.b64decode(letter.value_b64)


async def test_a_sync_caller_whose_job_the_ledger_refuses_gets_a_clear_answer_not_a_timeout(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    # The first trigger, as a user sends it: a NUL in a tag. Whether ingress refuses it at the door
    # or the ledger refuses the job, the caller gets a 400 at once, and the next workspace is served.
    workspace = await make_workspace(engine, tokens=10_000)
    body = {**PROMPT, "tags": ["eval", "a\u0000b"]}
    started = time.monotonic()
    response = await client.post("/chat/completions", json=body, headers={**workspace.headers, "Prefer": "wait=20"})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_request"
    assert time.monotonic() - started < 10
    assert (await balances(engine, workspace.id))["held"] == 0
    await assert_another_workspace_completes(client, engine)
