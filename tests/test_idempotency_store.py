"""Idempotency keys in PostgreSQL: claimed once, conflicts detected, given back when a job never queued."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ingress import idempotency
from schemas.errors import IdempotencyConflict
from tests.conftest import make_workspace

DAY_S = 86_400.0


async def test_a_released_key_starts_a_new_job_on_retry(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=0)
    key = f"k-{uuid.uuid4()}"
    first = await idempotency.claim(
        engine, workspace_id=workspace.id, key=key, fingerprint="a", job_id="job_1", window_s=DAY_S
    )
    assert not first.replayed
    # Publishing job_1 failed: the key is given back, and the retry's new job owns it.
    await idempotency.release(engine, workspace_id=workspace.id, key=key, job_id="job_1")
    retry = await idempotency.claim(
        engine, workspace_id=workspace.id, key=key, fingerprint="a", job_id="job_2", window_s=DAY_S
    )
    assert retry.job_id == "job_2" and not retry.replayed


async def test_release_never_frees_a_key_another_job_holds(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=0)
    key = f"k-{uuid.uuid4()}"
    await idempotency.claim(engine, workspace_id=workspace.id, key=key, fingerprint="a", job_id="job_1", window_s=DAY_S)
    await idempotency.release(engine, workspace_id=workspace.id, key=key, job_id="job_other")
    again = await idempotency.claim(
        engine, workspace_id=workspace.id, key=key, fingerprint="a", job_id="job_3", window_s=DAY_S
    )
    assert again.job_id == "job_1" and again.replayed
    with pytest.raises(IdempotencyConflict):
        await idempotency.claim(
            engine, workspace_id=workspace.id, key=key, fingerprint="b", job_id="job_4", window_s=DAY_S
        )


async def test_a_key_past_its_window_names_a_new_job(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=0)
    key = f"k-{uuid.uuid4()}"
    await idempotency.claim(
        engine, workspace_id=workspace.id, key=key, fingerprint="a", job_id="job_old", window_s=DAY_S
    )
    later = await idempotency.claim(
        engine, workspace_id=workspace.id, key=key, fingerprint="b", job_id="job_new", window_s=0
    )
    assert later.job_id == "job_new" and not later.replayed
