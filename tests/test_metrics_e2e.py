"""Every service's `/metrics` moves with the traffic it serves, with bounded labels (no ids, no paths, no keys)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Stack, make_workspace
from tests.metrics_scrape import label_values, scrape, value

pytestmark = pytest.mark.integration

CHAT = "/chat/completions"
MODEL = "openai/gpt-4.1-mini"


async def _eventually(check: object, timeout_s: float = 30.0) -> None:
    """Retry an async assertion until it passes (samplers run every second, under CPU contention)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await check()  # type: ignore[operator]
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def test_requests_results_and_settlements_are_counted_with_bounded_labels(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    workspace = await make_workspace(engine, tokens=1_000_000)
    _, ingress_before = await scrape(stack.metrics_urls["ingress"])
    _, ledger_before = await scrape(stack.metrics_urls["ledger"])
    _, workers_before = await scrape(stack.metrics_urls["workers"])

    job_ids = []
    for _ in range(3):
        answer = await client.post(
            CHAT, headers=workspace.headers, json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        )
        assert answer.status_code == 200, answer.text
        job_ids.append(answer.json()["id"])
    unknown = await client.post(
        CHAT,
        headers=workspace.headers,
        json={"model": "made-up/model-x1", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert unknown.status_code == 404
    assert (await client.get(f"/jobs/{job_ids[0]}", headers=workspace.headers)).status_code == 200

    text, ingress = await scrape(stack.metrics_urls["ingress"])
    chat_route = "/api/v1/chat/completions"
    ok = {"route": chat_route, "method": "POST", "status": "200", "model": MODEL}
    assert (
        value(ingress, "luntrex_http_requests_total", **ok) - value(ingress_before, "luntrex_http_requests_total", **ok)
        == 3
    )
    other = {"route": chat_route, "status": "404", "model": "other"}
    assert value(ingress, "luntrex_http_requests_total", **other) >= 1
    latency = {"route": chat_route, "model": MODEL}
    assert value(ingress, "luntrex_http_request_duration_seconds_count", **latency) >= 3
    assert (
        value(ingress, "luntrex_job_result_seconds_count", model=MODEL, status="completed")
        - value(ingress_before, "luntrex_job_result_seconds_count", model=MODEL, status="completed")
        == 3
    )
    # Each hop of the three jobs is timed: their publication and their results' age when taken up.
    for name, labels in (
        ("luntrex_kafka_publish_duration_seconds_count", {"producer": "ingress.jobs"}),
        ("luntrex_kafka_record_age_seconds_count", {"consumer": "ingress.results"}),
    ):
        assert value(ingress, name, **labels) - value(ingress_before, name, **labels) >= 3, name
    assert "/api/v1/jobs/{job_id}" in label_values(ingress, "luntrex_http_requests_total", "route")
    # Bounded labels: no job id, no workspace id, no key, no made-up model name, no raw path.
    for secret_or_id in (*job_ids, workspace.id, workspace.api_key, workspace.key_id, "made-up/model-x1"):
        assert secret_or_id not in text

    async def ledger_moved() -> None:
        _, ledger = await scrape(stack.metrics_urls["ledger"])
        settled = value(ledger, "luntrex_ledger_settlements_total", status="completed")
        assert settled - value(ledger_before, "luntrex_ledger_settlements_total", status="completed") >= 3
        dispatched = value(ledger, "luntrex_ledger_admissions_total", outcome="dispatched")
        assert dispatched - value(ledger_before, "luntrex_ledger_admissions_total", outcome="dispatched") >= 3
        assert value(ledger, "luntrex_ledger_batch_size_count", stage="settlement") >= 3 - 0
        assert ("luntrex_ledger_holds_outstanding", frozenset()) in ledger
        assert ("luntrex_ledger_held_tokens", frozenset()) in ledger
        for stage in ("admission", "settlement"):
            for name, labels in (
                ("luntrex_kafka_record_age_seconds_count", {"consumer": f"ledger.{stage}"}),
                ("luntrex_kafka_publish_duration_seconds_count", {"producer": f"ledger.{stage}"}),
            ):
                assert value(ledger, name, **labels) - value(ledger_before, name, **labels) >= 3, name
        groups = label_values(ledger, "luntrex_kafka_consumer_lag", "group")
        assert f"{stack.topic_prefix}ledger" in groups

    await _eventually(ledger_moved)

    async def workers_moved() -> None:
        _, workers = await scrape(stack.metrics_urls["workers"])
        calls = {"provider": "openai", "model": MODEL, "outcome": "ok"}
        assert (
            value(workers, "luntrex_provider_calls_total", **calls)
            - value(workers_before, "luntrex_provider_calls_total", **calls)
            >= 3
        )
        assert value(workers, "luntrex_provider_call_duration_seconds_count", **calls) >= 3
        assert value(workers, "luntrex_worker_jobs_total", pool="openai", outcome="completed") >= 3
        lane = "workers.openai.interactive"
        for name, labels in (
            ("luntrex_kafka_record_age_seconds_count", {"consumer": lane}),
            ("luntrex_kafka_publish_duration_seconds_count", {"producer": lane}),
        ):
            assert value(workers, name, **labels) - value(workers_before, name, **labels) >= 3, name
        assert f"{stack.topic_prefix}luntrex-pool-openai" in label_values(
            workers, "luntrex_kafka_consumer_lag", "group"
        )

    await _eventually(workers_moved)


async def test_retries_and_fallbacks_are_counted(client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack) -> None:
    """test/observed always answers 503: its attempts are retried, then the job falls back to test/cheap."""
    workspace = await make_workspace(engine, tokens=1_000_000)
    _, before = await scrape(stack.metrics_urls["workers"])
    async with httpx.AsyncClient(base_url=stack.fake_url, timeout=10) as fake:
        (await fake.post("/_fake/scenario", json={"model": "test-observed", "fail_status": 503})).raise_for_status()
        try:
            answer = await client.post(
                CHAT,
                headers=workspace.headers,
                json={"model": "test/observed", "messages": [{"role": "user", "content": "hi"}]},
            )
        finally:
            await fake.delete("/_fake/scenario", params={"model": "test-observed"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == "test/cheap"
    _, after = await scrape(stack.metrics_urls["workers"])

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert (
        delta("luntrex_provider_calls_total", model="test/observed", outcome="upstream_unavailable")
        + delta("luntrex_provider_calls_total", model="test/observed", outcome="upstream_error")
        == 3
    )
    assert delta("luntrex_provider_retries_total", provider="openai", model="test/observed") == 2
    assert delta("luntrex_fallbacks_total", model="test/observed") == 1
    assert delta("luntrex_provider_calls_total", provider="gemini", model="test/cheap", outcome="ok") == 1


async def test_rate_limit_refusals_are_counted(client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack) -> None:
    workspace = await make_workspace(engine, tokens=1_000_000)
    async with engine.begin() as conn:
        from sqlalchemy import text

        await conn.execute(text("UPDATE api_keys SET rpm_max = 1 WHERE id = :id"), {"id": workspace.key_id})
    _, before = await scrape(stack.metrics_urls["ledger"])
    statuses = []
    for _ in range(2):
        answer = await client.post(
            CHAT, headers=workspace.headers, json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        )
        statuses.append(answer.status_code)
    assert statuses == [200, 429]

    async def counted() -> None:
        _, after = await scrape(stack.metrics_urls["ledger"])
        refused = value(after, "luntrex_ledger_refusals_total", code="rate_limit_exceeded")
        assert refused - value(before, "luntrex_ledger_refusals_total", code="rate_limit_exceeded") == 1

    await _eventually(counted)
