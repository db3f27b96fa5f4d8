"""One trace per job through the real services and Kafka, exported over OTLP as the `OTEL_*` variables say.

A separate small stack (its own database, topics, ledger group) runs with tracing on, exporting to a local
OTLP receiver; the session's stack runs with tracing off, as production does by default.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from runtime.settings import ServiceSettings
from runtime.topics import topic_plan
from schemas.catalogue import Catalogue
from tests import services
from tests.conftest import Stack, Workspace, make_workspace
from tests.otlp_receiver import OtlpReceiver
from tests.processes import Service, free_port
from tests.topic_cleanup import ensure_topics

pytestmark = pytest.mark.integration


@dataclass
class TracedStack:
    base_url: str
    receiver: OtlpReceiver
    workspace: Workspace


@pytest.fixture(scope="module")
def traced_parts(
    stack: Stack, kafka: str, catalogue: Catalogue, catalogue_path: Path
) -> Iterator[tuple[str, OtlpReceiver, str]]:
    receiver = OtlpReceiver()
    database_url = services.create_database()
    prefix = f"tr{uuid.uuid4().hex[:8]}."
    asyncio.run(ensure_topics(ServiceSettings(kafka_bootstrap_servers=kafka), topic_plan(catalogue, prefix)))
    workdir = Path(tempfile.mkdtemp(prefix="luntrex-traced-"))
    port = free_port()
    fake = stack.fake_url
    env = {
        "LUNTREX_KAFKA_BOOTSTRAP_SERVERS": kafka,
        "LUNTREX_DATABASE_URL": database_url,
        "LUNTREX_TOPIC_PREFIX": prefix,
        "LUNTREX_CATALOGUE_PATH": str(catalogue_path),
        "LUNTREX_LEDGER_APP_ID": f"{prefix}ledger",
        "OPENAI_API_KEY": "sk-fake-openai",
        "ANTHROPIC_API_KEY": "sk-ant-fake",
        "GEMINI_API_KEY": "fake-gemini-key",
        "LLAMA_API_KEY": "fake-llama-key",
        "LUNTREX_PROVIDER_BASE_URLS": (
            f'{{"openai": "{fake}/openai/v1", "anthropic": "{fake}/anthropic", '
            f'"gemini": "{fake}/gemini", "llama": "{fake}/openai/v1"}}'
        ),
        # The standard variables, and a short export delay so the test does not wait 5 s for each batch.
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    parts = [
        Service("ledger", ["ledger"], env, workdir),
        Service("workers", ["workers"], env, workdir),
        Service("ingress", ["ingress", "--port", str(port)], env, workdir),
    ]
    try:
        for part in parts:
            part.start()
        yield f"http://127.0.0.1:{port}/api/v1", receiver, database_url
    finally:
        for part in reversed(parts):
            part.stop()
        receiver.close()
        services.drop_database(database_url)


@pytest.fixture
async def traced(traced_parts: tuple[str, OtlpReceiver, str]) -> TracedStack:
    base_url, receiver, database_url = traced_parts
    engine = create_async_engine(database_url, pool_size=1)
    try:
        workspace = await make_workspace(engine, tokens=1_000_000)
    finally:
        await engine.dispose()
    return TracedStack(base_url, receiver, workspace)


async def test_every_service_span_of_one_job_shares_the_callers_trace(traced: TracedStack) -> None:
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    async with httpx.AsyncClient(base_url=traced.base_url, timeout=60) as client:
        answer = await client.post(
            "/chat/completions",
            headers={**traced.workspace.headers, "traceparent": f"00-{trace_id}-{parent_id}-01"},
            json={"model": "openai/gpt-4.1-mini", "messages": [{"role": "user", "content": "trace me"}]},
        )
    assert answer.status_code == 200, answer.text

    wanted = {
        ("luntrex-ingress", "POST /api/v1/chat/completions"),
        ("luntrex-ledger", "ledger admission"),
        ("luntrex-workers", "worker openai"),
        ("luntrex-workers", "provider openai"),
        ("luntrex-ledger", "ledger settlement"),
        ("luntrex-ingress", "jobs.results receive"),
    }
    deadline = time.monotonic() + 30
    while True:
        spans = traced.receiver.of_trace(trace_id)
        if wanted <= {(span.service, span.name) for span in spans} or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert wanted <= {(span.service, span.name) for span in spans}, spans
    by_name = {span.name: span for span in spans}
    # The chain of parents follows the job's path: caller -> ingress -> hold -> worker -> call; worker -> settle.
    request = by_name["POST /api/v1/chat/completions"]
    assert request.parent_span_id == parent_id
    hold, worker = by_name["ledger admission"], by_name["worker openai"]
    assert by_name["provider openai"].parent_span_id == worker.span_id
    assert worker.parent_span_id == hold.span_id
    assert by_name["ledger settlement"].parent_span_id == worker.span_id
    assert by_name["jobs.results receive"].parent_span_id == by_name["ledger settlement"].span_id


async def test_a_request_without_a_traceparent_starts_one_trace_for_its_job(traced: TracedStack) -> None:
    async with httpx.AsyncClient(base_url=traced.base_url, timeout=60) as client:
        answer = await client.post(
            "/chat/completions",
            headers=traced.workspace.headers,
            json={"model": "openai/gpt-4.1-mini", "messages": [{"role": "user", "content": "untraced caller"}]},
        )
    assert answer.status_code == 200, answer.text
    job_id = answer.json()["id"]
    deadline = time.monotonic() + 30
    while True:
        settlements = [s for s in traced.receiver.spans if s.name == "ledger settlement"]
        traces = {s.trace_id for s in settlements}
        services_by_trace = {t: {s.service for s in traced.receiver.of_trace(t)} for t in traces}
        complete = [t for t, names in services_by_trace.items() if len(names) == 3]
        if len(complete) >= 2 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    # Both jobs of this module have a whole trace (ingress, ledger, workers), and they are different traces.
    assert len(complete) >= 2, (job_id, services_by_trace)
