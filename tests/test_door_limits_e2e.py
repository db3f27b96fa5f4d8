"""Size limits at the HTTP door, before any key is checked: bodies (declared, streamed, on bodyless routes),
the request head (size and header count), and malformed requests, all answered in the API's error shape."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Stack, make_workspace
from tests.door_probe import (
    assert_another_workspace_completes,
    assert_refusal,
    closed_by_server,
    connect,
    head,
    port_of,
    read_response,
    rss_kib,
)

BODY_MAX_BYTES = 1_048_576
POST_ROUTES = [
    "/api/v1/chat/completions",
    "/api/v1/openai/chat/completions",
    "/api/v1/keys",
    "/api/v1/keys/0123456789ab/rotate",
]


@pytest.mark.parametrize("path", POST_ROUTES)
async def test_a_declared_length_over_the_limit_is_refused_before_the_body_and_before_auth(
    stack: Stack, engine: AsyncEngine, path: str
) -> None:
    reader, writer = await connect(port_of(stack.base_url))
    # No key, and not one byte of the announced gibibyte: the answer must come from the head alone.
    writer.write(head("POST", path, {"Content-Type": "application/json", "Content-Length": str(1 << 30)}))
    response = await read_response(reader, timeout_s=5)
    message = assert_refusal(response, 413, "payload_too_large", openai="/openai/" in path)
    assert f"{1 << 30} bytes" in message and f"{BODY_MAX_BYTES} bytes" in message
    assert await closed_by_server(reader)
    writer.close()
    await assert_another_workspace_completes(stack.base_url, engine)


async def test_a_streamed_body_is_cut_at_the_limit_without_growing_memory(stack: Stack, engine: AsyncEngine) -> None:
    """256 MiB, chunked, unauthenticated, to the route that used to buffer it all (+770 MiB of RSS)."""
    assert stack.ingress.process is not None
    pid = stack.ingress.process.pid
    baseline_kib = rss_kib(pid)
    peak_kib = baseline_kib
    reader, writer = await connect(port_of(stack.base_url))
    writer.write(head("POST", "/api/v1/keys", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}))
    response_task = asyncio.create_task(read_response(reader, timeout_s=60))
    chunk = b"[" * 65_536
    sent_bytes = 0
    with contextlib.suppress(ConnectionError):
        while sent_bytes < 256 * 1_048_576 and not response_task.done():
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
            sent_bytes += len(chunk)
            if sent_bytes % (16 * 65_536) == 0:
                peak_kib = max(peak_kib, rss_kib(pid))
    response = await response_task
    peak_kib = max(peak_kib, rss_kib(pid))
    writer.close()

    assert_refusal(response, 413, "payload_too_large")
    # Refused at the limit: the client got its answer long before it could send the 256 MiB.
    assert sent_bytes < 32 * 1_048_576, sent_bytes
    assert (peak_kib - baseline_kib) < 32 * 1024, f"ingress RSS grew {peak_kib - baseline_kib} KiB"
    await assert_another_workspace_completes(stack.base_url, engine)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v1/models"), ("GET", "/api/v1/jobs/job_x"), ("DELETE", "/api/v1/keys/0123456789ab")],
)
async def test_a_body_on_a_route_that_takes_none_is_refused_over_a_small_limit(
    stack: Stack, engine: AsyncEngine, method: str, path: str
) -> None:
    workspace = await make_workspace(engine, tokens=0)
    auth = {"Authorization": f"Bearer {workspace.api_key}"}
    port = port_of(stack.base_url)

    reader, writer = await connect(port)
    writer.write(head(method, path, {**auth, "Content-Length": "4096"}))
    assert_refusal(await read_response(reader), 413, "payload_too_large")
    writer.close()

    reader, writer = await connect(port)
    writer.write(head(method, path, {**auth, "Transfer-Encoding": "chunked"}))
    writer.write(b"800\r\n" + b"x" * 2048 + b"\r\n0\r\n\r\n")
    assert_refusal(await read_response(reader), 413, "payload_too_large")
    writer.close()

    # A few stray bytes are tolerated and ignored, as before.
    reader, writer = await connect(port)
    writer.write(head(method, path, {**auth, "Content-Length": "2"}, extra=b"") + b"{}")
    response = await read_response(reader)
    assert response.status in (200, 204, 404), response.body
    writer.close()
    await assert_another_workspace_completes(stack.base_url, engine)


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({"X-Big": "a" * (8 * 1_048_576)}, "over the limit of 65536 bytes"),
        ({f"X-H{i}": "v" for i in range(10_000)}, "more than 100 request headers"),
        ({f"X-H{i}": "v" for i in range(100)}, "more than 100 request headers"),
        ({f"X-H{i}": "v" * 1000 for i in range(70)}, "over the limit of 65536 bytes"),
    ],
)
async def test_a_head_over_its_size_or_header_count_is_431_and_closed(
    stack: Stack, engine: AsyncEngine, headers: dict[str, str], fragment: str
) -> None:
    reader, writer = await connect(port_of(stack.base_url))
    writer.write(head("GET", "/api/v1/models", headers))
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    message = assert_refusal(await read_response(reader), 431, "headers_too_large")
    assert fragment in message
    assert await closed_by_server(reader)
    writer.close()
    await assert_another_workspace_completes(stack.base_url, engine)


async def test_a_head_within_the_limits_is_served(stack: Stack, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=0)
    reader, writer = await connect(port_of(stack.base_url))
    headers = {"Authorization": f"Bearer {workspace.api_key}", **{f"X-H{i}": "v" * 500 for i in range(90)}}
    writer.write(head("GET", "/api/v1/models", headers))
    response = await read_response(reader)
    assert response.status == 200, response.body
    writer.close()


@pytest.mark.parametrize(
    ("raw", "openai"),
    [
        (head("POST", "/api/v1/chat/completions", {"Idempotency-Key": "a\x00b", "Content-Length": "0"}), False),
        (head("POST", "/api/v1/openai/chat/completions", {"Idempotency-Key": "a\x01b", "Content-Length": "0"}), True),
        (head("GET", "/api/v1/models", {"Content-Length": "1, 2"}), False),
        (head("GET", "/api/v1/models", {"Content-Length": "9" * 40}), False),
        (b"GET /api/v1/mo\x00dels HTTP/1.1\r\nHost: x\r\n\r\n", False),
    ],
)
async def test_a_request_the_parser_refuses_gets_a_400_in_the_error_shape(
    stack: Stack, engine: AsyncEngine, raw: bytes, openai: bool
) -> None:
    reader, writer = await connect(port_of(stack.base_url))
    writer.write(raw)
    message = assert_refusal(await read_response(reader), 400, "invalid_request", openai=openai)
    assert "malformed HTTP request" in message
    writer.close()
    await assert_another_workspace_completes(stack.base_url, engine)
