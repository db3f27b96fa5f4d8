"""Raw HTTP/1.1 over a socket, for tests of what the ingress does before any route runs (limits, slow senders)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import topics
from tests.conftest import Stack, make_workspace
from tests.kafka_probe import end_offsets

SEED = {"model": "openai/gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


def port_of(base_url: str) -> int:
    port = httpx.URL(base_url).port
    assert port is not None
    return port


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


def head(method: str, path: str, headers: dict[str, str] | None = None, *, extra: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return "\r\n".join(lines).encode("latin-1") + b"\r\n" + extra + b"\r\n"


async def read_response(reader: asyncio.StreamReader, timeout_s: float = 10.0) -> RawResponse:
    async with asyncio.timeout(timeout_s):
        raw_head = await reader.readuntil(b"\r\n\r\n")
        lines = raw_head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return RawResponse(status, headers, body)


async def closed_by_server(reader: asyncio.StreamReader, timeout_s: float = 10.0) -> bool:
    """True once the server has closed its side (EOF or reset), False if it is still open after the timeout."""
    try:
        async with asyncio.timeout(timeout_s):
            while await reader.read(65_536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return True


def assert_refusal(response: RawResponse, status: int, code: str, *, openai: bool = False) -> str:
    """The refusal is in the API's error shape (OpenAI's on that surface) and closes the connection."""
    assert response.status == status, response.body
    assert response.headers.get("connection") == "close"
    body = response.json()
    assert body["status"] == status
    assert isinstance(body["request_id"], str) and body["request_id"]
    error = body["error"]
    if openai:
        assert error["code"] == code
        return str(error["message"])
    assert body["code"] == code
    assert isinstance(error, str) and error
    return error


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


async def assert_another_workspace_completes(base_url: str, engine: AsyncEngine) -> None:
    """The closing proof of every hostile-input test: a fresh workspace's request still completes, billed."""
    workspace = await make_workspace(engine, tokens=10_000)
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        response = await client.post("/chat/completions", json=SEED, headers=workspace.headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["answer"]
    assert answer["balance_left"] == 10_000 - answer["cost"]


@contextlib.asynccontextmanager
async def nothing_queued(stack: Stack) -> AsyncIterator[None]:
    """Asserts that no job reached `jobs.submitted` inside the block (so, before the closing proof runs)."""
    topic = topics.prefixed(stack.topic_prefix, topics.JOBS_SUBMITTED)
    before = await end_offsets(stack.kafka, topic)
    yield
    assert await end_offsets(stack.kafka, topic) == before, "a rejected request reached Kafka"
