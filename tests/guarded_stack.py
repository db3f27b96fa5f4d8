"""What the guardrail tests share: the fake provider's scripted `test/hostile` model, and workspaces the operator
creates with guardrails."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.conftest import ADMIN_KEY, Stack

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
HOSTILE_UPSTREAM = "test-hostile"

Scenario = Callable[..., Awaitable[None]]


@asynccontextmanager
async def hostile_scenario(stack: Stack) -> AsyncIterator[Scenario]:
    """A script for the fake's `test-hostile` model (`answer_text`, `tool_arguments`, ...), cleared afterwards."""
    async with httpx.AsyncClient(base_url=stack.fake_url) as fake:

        async def script(**knobs: Any) -> None:
            (await fake.post("/_fake/scenario", json={"model": HOSTILE_UPSTREAM, **knobs})).raise_for_status()

        yield script
        await fake.delete("/_fake/scenario", params={"model": HOSTILE_UPSTREAM})


async def guarded_workspace(
    client: httpx.AsyncClient, guardrails: dict[str, Any], *, grant: int
) -> tuple[str, dict[str, str]]:
    """A new workspace with these guardrails and `grant` tokens: its id and its key's headers."""
    created = await client.post(
        "/admin/workspaces", json={"name": "guarded", "grant_tokens": grant, "guardrails": guardrails}, headers=ADMIN
    )
    assert created.status_code == 201, created.text
    body = created.json()
    return body["id"], {"Authorization": f"Bearer {body['api_key']}"}
