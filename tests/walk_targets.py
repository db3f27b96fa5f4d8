"""What the OpenAPI-driven hostile-input walks aim their path parameters at, made once per module."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from ingress.keys import create_key
from tests.conftest import Stack, Workspace


async def spare_key_and_endpoint(
    stack: Stack, engine: AsyncEngine, workspace: Workspace, label: str
) -> tuple[str, str]:
    """A key of the workspace's own (rotations and key guardrails aim at it, so the walking key keeps working) and
    a webhook endpoint of it (to a port nothing listens on); their ids."""
    async with engine.begin() as conn:
        spare_key_id, _ = await create_key(conn, workspace.id, "spare key")
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as client:
        created = await client.post(
            "/webhooks",
            json={"url": f"http://127.0.0.1:9/{label}", "event_types": ["job.completed"]},
            headers=workspace.headers,
        )
    assert created.status_code == 201, created.text
    return spare_key_id, created.json()["id"]
