"""A bug in a route answers 500 in the error shape and leaves the keep-alive connection usable.

No route of the real ingress is known to fail this way any more, so a small app with a failing route is served
by the same protocol and request guard the ingress uses, on a real socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import uvicorn
from fastapi import FastAPI

from ingress.door import BodyLimits, RequestGuard
from ingress.errors import install_error_handlers
from ingress.server import HeadLimits, guarded_protocol
from tests.door_probe import connect, head, read_response
from tests.processes import free_port


def failing_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(
        RequestGuard,
        limits=BodyLimits(body_max_bytes=1024, bodyless_body_max_bytes=0, body_read_timeout_s=5),
    )

    @app.get("/api/v1/bug")
    async def bug() -> None:
        raise RuntimeError("a bug")

    @app.get("/api/v1/fine")
    async def fine() -> dict[str, str]:
        return {"status": "fine"}

    return app


@pytest.fixture
async def port() -> AsyncIterator[int]:
    port = free_port()
    limits = HeadLimits(head_max_bytes=65_536, headers_max=100, header_read_timeout_s=5, linger_s=1)
    config = uvicorn.Config(
        failing_app(), host="127.0.0.1", port=port, http=guarded_protocol(limits), lifespan="off", log_level="critical"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.01)
    yield port
    server.should_exit = True
    await task


async def test_a_500_keeps_the_connection_for_the_next_request(port: int) -> None:
    reader, writer = await connect(port)
    writer.write(head("GET", "/api/v1/bug"))
    first = await read_response(reader)
    writer.write(head("GET", "/api/v1/fine"))
    second = await read_response(reader)
    writer.close()

    assert first.status == 500
    body = first.json()
    assert (body["error"], body["status"], body["code"]) == ("internal error", 500, "internal_error")
    assert isinstance(body["request_id"], str) and body["request_id"]
    assert first.headers.get("connection") != "close"
    assert second.status == 200
    assert second.json() == {"status": "fine"}
