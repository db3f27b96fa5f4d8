"""The ingress prunes idempotency keys past their window and outbox rows of recorded jobs, and nothing else.

On the real PostgreSQL, as the ingress's own role (so the grants allow exactly this).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ingress.outbox_pruning import PRUNE_LOCK_ID, prune_once
from runtime.db_roles import role_url
from tests.conftest import make_workspace

DAY_S = 86_400.0


@pytest.fixture
async def ingress_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(role_url(database_url, "ingress"), pool_size=2)
    yield engine
    await engine.dispose()


async def seed(engine: AsyncEngine, workspace_id: str, tag: str) -> None:
    """Two of each: old and fresh keys; old recorded, old unrecorded and fresh recorded outbox rows."""
    async with engine.begin() as conn:
        for name, age in (("old-key-1", "2 days"), ("old-key-2", "3 days"), ("fresh-key", "1 hour")):
            await conn.execute(
                text(
                    "INSERT INTO idempotency_keys (workspace_id, key, request_sha256, job_id, created_at) "
                    "VALUES (:ws, :key, 'x', :job, now() - CAST(:age AS interval))"
                ),
                {"ws": workspace_id, "key": f"{tag}-{name}", "job": f"job_{tag}_{name}", "age": age},
            )
        rows = (
            ("old-recorded-1", "2 days", None),
            ("old-recorded-2", "4 days", None),
            ("old-unrecorded", "2 days", b"event bytes"),
            ("fresh-recorded", "1 hour", None),
        )
        for name, age, event in rows:
            await conn.execute(
                text(
                    "INSERT INTO accepted_jobs (job_id, workspace_id, model_id, created_at, event, published_at) "
                    "VALUES (:job, :ws, 'openai/gpt-4.1-mini', now() - CAST(:age AS interval), :event, now())"
                ),
                {"job": f"job_{tag}_{name}", "ws": workspace_id, "age": age, "event": event},
            )


async def remaining(engine: AsyncEngine, tag: str) -> tuple[set[str], set[str]]:
    async with engine.connect() as conn:
        keys = {
            row[0]
            for row in await conn.execute(text("SELECT key FROM idempotency_keys WHERE key LIKE :t"), {"t": f"{tag}-%"})
        }
        jobs = {
            row[0]
            for row in await conn.execute(
                text("SELECT job_id FROM accepted_jobs WHERE job_id LIKE :t"), {"t": f"job_{tag}_%"}
            )
        }
    return keys, jobs


async def test_only_expired_keys_and_old_recorded_rows_go_in_bounded_batches(
    engine: AsyncEngine, ingress_engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=0)
    tag = uuid.uuid4().hex[:8]
    await seed(engine, workspace.id, tag)

    # Other sessions' rows may be old too: drain in batches of one until this test's rows are settled.
    first = await prune_once(ingress_engine, age_s=DAY_S, batch_max=1)
    assert first is not None and first.idempotency_keys <= 1 and first.outbox_rows <= 1
    for _ in range(1_000):
        pruned = await prune_once(ingress_engine, age_s=DAY_S, batch_max=50)
        assert pruned is not None
        if not pruned.idempotency_keys and not pruned.outbox_rows:
            break

    keys, jobs = await remaining(engine, tag)
    assert keys == {f"{tag}-fresh-key"}
    # The unrecorded row is the relay's: it stays, whatever its age, until the ledger has the job.
    assert jobs == {f"job_{tag}_old-unrecorded", f"job_{tag}_fresh-recorded"}


async def test_one_ingress_at_a_time_prunes(engine: AsyncEngine, ingress_engine: AsyncEngine) -> None:
    async with engine.connect() as holder:
        await holder.execute(text("SELECT pg_advisory_lock(:id)"), {"id": PRUNE_LOCK_ID})
        try:
            assert await prune_once(ingress_engine, age_s=DAY_S, batch_max=10) is None
        finally:
            await holder.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": PRUNE_LOCK_ID})
    assert await prune_once(ingress_engine, age_s=DAY_S, batch_max=10) is not None
