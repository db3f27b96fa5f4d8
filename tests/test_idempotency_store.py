"""Idempotency keys in PostgreSQL: claimed once, conflicts detected, given back when a job never queued."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ingress import idempotency
from schemas.errors import IdempotencyConflict
from tests.conftest import make_workspace

DAY_S = 86_400.0


async def claim(engine: AsyncEngine, **arguments: Any) -> idempotency.Claim:
    async with engine.begin() as conn:
        return await idempotency.claim(conn, **arguments)


async def release(engine: AsyncEngine, **arguments: Any) -> None:
    async with engine.begin() as conn:
        await idempotency.release(conn, **arguments)


async def test_a_released_key_starts_a_new_job_on_retry(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=0)
    key = f"k-{uuid.uuid4()}"
    first = await claim(engine, workspace_id=workspace.id, key=key, fingerprint="a", job_id="job_1", window_s=DAY_S)
    assert not first.replayed
    # Publishing job_1 failed: the key is given back, and the retry's new job owns it.
    await release(engine, workspace_id=workspace.id, key=key, job_id="job_1")
    retry = await claim(engine, workspace_id=workspace.id, key=key, fingerprint="a", job_id="job_2", window_s=DAY_S)
    assert retry.job_id == "job_2" and not retry.replayed


async def test_release_never_frees_a_key_another_job_holds(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=0)
    key = f"k-{uuid.uuid4()}"
    await claim(engine, workspace_id=workspace.id, key=key, fingerprint="a", job_id="job_1", window_s=DAY_S)
    await release(engine, workspace_id=workspace.id, key=key, job_id="job_other")
    again = await claim(engine, workspace_id=workspace.id, key=key, fingerprint="a", job_id="job_3", window_s=DAY_S)
    assert again.job_id == "job_1" and again.replayed
    with pytest.raises(IdempotencyConflict):
        await claim(engine, workspace_id=workspace.id, key=key, fingerprint="b", job_id="job_4", window_s=DAY_S)


async def test_a_key_past_its_window_names_a_new_job(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=0)
    key = f"k-{uuid.uuid4()}"
    await claim(engine, workspace_id=workspace.id, key=key, fingerprint="a", job_id="job_old", window_s=DAY_S)
    later = await claim(engine, workspace_id=workspace.id, key=key, fingerprint="b", job_id="job_new", window_s=0)
    assert later.job_id == "job_new" and not later.replayed
