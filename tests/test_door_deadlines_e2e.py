"""Slow senders and oversized events, against a second ingress with short deadlines and a small Kafka record
limit (the mechanism is the same at the defaults: 10 s for the head, 60 s for the body, 8 MiB per record)."""

from __future__ import annotations

import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Stack, Workspace, make_workspace
from tests.door_probe import (
    SEED,
    assert_another_workspace_completes,
    assert_refusal,
    closed_by_server,
    connect,
    head,
    nothing_queued,
    read_response,
)
from tests.processes import Service, free_port

HEADER_READ_TIMEOUT_S = 3
BODY_READ_TIMEOUT_S = 3
KAFKA_MESSAGE_MAX_BYTES = 1_000_000
BODY_MAX_BYTES = 2 * 1_048_576
# Generous: the machine is shared, and a deadline only has to be bounded, not exact.
MARGIN_S = 5


@dataclass(frozen=True)
class TightIngress:
    base_url: str
    port: int


@pytest.fixture(scope="module")
def tight(stack: Stack, catalogue_path: Path) -> Iterator[TightIngress]:
    port = free_port()
    env = {
        "LUNTREX_KAFKA_BOOTSTRAP_SERVERS": stack.kafka,
        "LUNTREX_DATABASE_URL": stack.database_url,
        "LUNTREX_TOPIC_PREFIX": stack.topic_prefix,
        "LUNTREX_CATALOGUE_PATH": str(catalogue_path),
        "LUNTREX_INSTANCE_ID": "ingress-tight",
        "LUNTREX_HEADER_READ_TIMEOUT_S": str(HEADER_READ_TIMEOUT_S),
        "LUNTREX_BODY_READ_TIMEOUT_S": str(BODY_READ_TIMEOUT_S),
        "LUNTREX_KAFKA_MESSAGE_MAX_BYTES": str(KAFKA_MESSAGE_MAX_BYTES),
        "LUNTREX_BODY_MAX_BYTES": str(BODY_MAX_BYTES),
    }
    service = Service("ingress-tight", ["ingress", "--port", str(port)], env, Path(tempfile.mkdtemp()))
    service.start()
    # The ready file is written during start-up, just before uvicorn binds its socket.
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    try:
        yield TightIngress(base_url=f"http://127.0.0.1:{port}/api/v1", port=port)
    finally:
        service.stop()


@pytest.fixture
async def workspace(engine: AsyncEngine) -> Workspace:
    return await make_workspace(engine, tokens=10_000_000)


async def test_a_head_sent_one_byte_every_2s_is_answered_408_and_closed(
    tight: TightIngress, engine: AsyncEngine
) -> None:
    reader, writer = await connect(tight.port)
    started = time.monotonic()
    request_line = b"GET /api/v1/models HTTP/1.1\r\n"
    for byte in request_line:
        writer.write(bytes([byte]))
        try:
            response = await read_response(reader, timeout_s=2)
            break
        except TimeoutError:
            continue
    else:
        pytest.fail("the server kept reading a head sent one byte every 2 s")
    elapsed_s = time.monotonic() - started
    assert_refusal(response, 408, "request_timeout")
    assert HEADER_READ_TIMEOUT_S - 0.5 <= elapsed_s <= HEADER_READ_TIMEOUT_S + MARGIN_S, elapsed_s
    assert await closed_by_server(reader)
    writer.close()
    await assert_another_workspace_completes(tight.base_url, engine)


async def test_a_connection_that_sends_nothing_is_closed(tight: TightIngress, engine: AsyncEngine) -> None:
    reader, writer = await connect(tight.port)
    started = time.monotonic()
    assert_refusal(await read_response(reader, timeout_s=HEADER_READ_TIMEOUT_S + MARGIN_S), 408, "request_timeout")
    assert time.monotonic() - started <= HEADER_READ_TIMEOUT_S + MARGIN_S
    assert await closed_by_server(reader)
    writer.close()
    await assert_another_workspace_completes(tight.base_url, engine)


@pytest.mark.parametrize("authenticated", [True, False])
@pytest.mark.parametrize("path", ["/api/v1/keys", "/api/v1/openai/chat/completions"])
async def test_a_body_sent_one_byte_every_2s_is_answered_408_and_closed(
    tight: TightIngress, stack: Stack, engine: AsyncEngine, workspace: Workspace, authenticated: bool, path: str
) -> None:
    body = orjson.dumps({"name": "slow" * 20}) if path.endswith("keys") else orjson.dumps(SEED)
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    if authenticated:
        headers["Authorization"] = f"Bearer {workspace.api_key}"
    async with nothing_queued(stack):
        reader, writer = await connect(tight.port)
        writer.write(head("POST", path, headers))
        started = time.monotonic()
        for byte in body:
            writer.write(bytes([byte]))
            try:
                response = await read_response(reader, timeout_s=2)
                break
            except TimeoutError:
                continue
        else:
            pytest.fail("the server kept reading a body sent one byte every 2 s")
    elapsed_s = time.monotonic() - started
    if not authenticated and path.endswith("completions"):
        # This route checks the key before reading the body: the 401 comes at once and closes the connection,
        # since the unread body could otherwise keep trickling in behind it.
        assert response.status == 401
        assert response.headers.get("connection") == "close"
    else:
        assert_refusal(response, 408, "request_timeout", openai="/openai/" in path)
        assert BODY_READ_TIMEOUT_S - 0.5 <= elapsed_s <= BODY_READ_TIMEOUT_S + MARGIN_S, elapsed_s
    assert await closed_by_server(reader)
    writer.close()
    await assert_another_workspace_completes(tight.base_url, engine)


def control_character_body(body_bytes: int) -> bytes:
    """A completion whose prompt is `\\u0001` escapes, padded to about `body_bytes`."""
    overhead = len(orjson.dumps({**SEED, "messages": [{"role": "user", "content": ""}]}))
    content = "\x01" * ((body_bytes - overhead) // 6)
    body = orjson.dumps({**SEED, "messages": [{"role": "user", "content": content}]})
    assert abs(len(body) - body_bytes) < 16
    return body


@pytest.mark.parametrize("endpoint", ["/chat/completions", "/openai/chat/completions"])
async def test_a_request_whose_event_would_not_fit_the_queue_is_413_at_the_door(
    tight: TightIngress, stack: Stack, engine: AsyncEngine, workspace: Workspace, endpoint: str
) -> None:
    """1 MiB of control characters is within the body limit here (2 MiB), but its event is over the record limit."""
    body = control_character_body(1_048_576)
    async with nothing_queued(stack), httpx.AsyncClient(base_url=tight.base_url, timeout=60) as client:
        response = await client.post(endpoint, content=body, headers=workspace.headers)
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    message = error["message"] if "openai" in endpoint else error
    assert "job queue" in message
    await assert_another_workspace_completes(tight.base_url, engine)


async def test_a_large_prompt_of_control_characters_that_fits_is_carried_and_billed(
    tight: TightIngress, engine: AsyncEngine, workspace: Workspace
) -> None:
    body = control_character_body(600_000)
    async with httpx.AsyncClient(base_url=tight.base_url, timeout=60) as client:
        response = await client.post("/chat/completions", content=body, headers=workspace.headers)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["usage"]["input_tokens"] > 0
        polled = await client.get(f"/jobs/{answer['id']}", headers=workspace.headers)
    assert polled.json()["status"] == "completed"
    await assert_another_workspace_completes(tight.base_url, engine)
