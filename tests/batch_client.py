"""Helpers for the batch tests: build OpenAI batch lines, upload a batch, wait for its state, read its results."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from tests.conftest import Workspace
from tests.test_openai_params_e2e import WEATHER_TOOL

MODEL = "openai/gpt-4.1-mini"


def line(custom_id: str, content: str = "Say hi", *, model: str = MODEL, max_tokens: int = 16) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": max_tokens},
    }


def rich_lines() -> list[dict[str, Any]]:
    """Two lines whose answers say more than `answer`: one answered with a tool call, one with two choices."""
    tools = line("tools", "What is the weather in Dhaka?", max_tokens=50)
    tools["body"] |= {"tools": [WEATHER_TOOL], "tool_choice": "auto"}
    several = line("several", "Name a colour", max_tokens=30)
    several["body"]["n"] = 2
    return [tools, several]


def jsonl(lines: list[Any]) -> bytes:
    return b"".join((item if isinstance(item, bytes) else orjson.dumps(item)) + b"\n" for item in lines)


async def upload(client: httpx.AsyncClient, workspace: Workspace, body: bytes, **params: Any) -> httpx.Response:
    headers = {**workspace.headers, "Content-Type": "application/jsonl"}
    return await client.post("/batches", content=body, headers=headers, params=params)


async def wait_batch(
    client: httpx.AsyncClient,
    workspace: Workspace,
    batch_id: str,
    until: Callable[[dict[str, Any]], bool],
    *,
    timeout_s: float = 90,
    log: Callable[[], str] = lambda: "",
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = await client.get(f"/batches/{batch_id}", headers=workspace.headers)
        assert answer.status_code == 200, answer.text
        batch: dict[str, Any] = answer.json()
        if until(batch):
            return batch
        if time.monotonic() > deadline:
            raise AssertionError(f"batch {batch_id} never reached the state asked: {batch}\n{log()}")
        await asyncio.sleep(0.2)


def finished(batch: dict[str, Any]) -> bool:
    return batch["status"] in ("completed", "cancelled", "expired")


async def results(client: httpx.AsyncClient, workspace: Workspace, batch_id: str) -> list[dict[str, Any]]:
    answer = await client.get(f"/batches/{batch_id}/results", headers=workspace.headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/jsonl")
    return [orjson.loads(row) for row in answer.content.splitlines() if row]
