"""A batch's counts by state and its cost come from its tally (migration 0027), which follows its jobs in the
transactions that write them: released, settled (a redelivered usage counts once), failed by an unbillable usage,
cancelled unreleased, and a row deleted or re-costed by hand. On PostgreSQL, a database of its own, the feeder ticked
by hand; each step is checked against the counts read from the jobs themselves, and the book verifies
(`batch_tally_differs_from_jobs` among its rules).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ingress.batch_writes import request_cancel
from ledger import settlement, verify
from schemas.catalogue import Catalogue
from tests.conftest import make_workspace
from tests.test_batch_limits import BILLED, GRANT, T0, counts, drive, store, usage

# The same figures counted the slow way: every line joined to its job.
_COUNTED = text(
    """
    SELECT count(*) FILTER (WHERE j.id IS NULL) AS unreleased,
           count(*) FILTER (WHERE j.status = 'queued') AS running,
           count(*) FILTER (WHERE j.status = 'completed') AS completed,
           count(*) FILTER (WHERE j.status IN ('failed', 'rejected')) AS failed,
           count(*) FILTER (WHERE j.status = 'cancelled') AS cancelled,
           count(*) FILTER (WHERE j.status = 'expired') AS expired,
           coalesce(sum(j.cost_tokens), 0) AS cost_tokens,
           coalesce(sum(j.input_tokens), 0) AS input_tokens,
           coalesce(sum(j.output_tokens), 0) AS output_tokens
    FROM batch_lines l LEFT JOIN jobs j ON j.id = l.job_id WHERE l.batch_id = :b
    """
)


async def counted(engine: AsyncEngine, batch_id: str) -> dict[str, int]:
    async with engine.connect() as conn:
        return dict((await conn.execute(_COUNTED, {"b": batch_id})).one()._mapping)


_TALLIED = text(
    """
    SELECT b.total_lines - coalesce(t.queued + t.completed + t.failed + t.cancelled + t.expired, 0) AS unreleased,
           coalesce(t.queued, 0) AS running, coalesce(t.completed, 0) AS completed, coalesce(t.failed, 0) AS failed,
           coalesce(t.cancelled, 0) AS cancelled, coalesce(t.expired, 0) AS expired,
           coalesce(t.cost_tokens, 0) AS cost_tokens, coalesce(t.input_tokens, 0) AS input_tokens,
           coalesce(t.output_tokens, 0) AS output_tokens
    FROM batches b LEFT JOIN batch_tallies t ON t.batch_id = b.id WHERE b.id = :b
    """
)


async def tallied(engine: AsyncEngine, batch_id: str) -> dict[str, int]:
    async with engine.connect() as conn:
        return dict((await conn.execute(_TALLIED, {"b": batch_id})).one()._mapping)


async def assert_tally_exact(engine: AsyncEngine, batch_id: str) -> None:
    assert await tallied(engine, batch_id) == await counted(engine, batch_id)
    assert await verify.verify_database(engine) == []


async def test_a_batchs_tally_follows_its_jobs_through_release_settlement_redelivery_failure_and_cancel(
    own_engine: AsyncEngine, catalogue: Catalogue
) -> None:
    engine = own_engine
    workspace = await make_workspace(engine, tokens=GRANT)
    batch_id = await store(engine, catalogue, workspace, 6)
    await assert_tally_exact(engine, batch_id)

    feeder = drive(engine, catalogue)
    assert (await feeder.tick(T0)).released == 6
    assert (await counts(engine, workspace, batch_id, catalogue))["running"] == 6
    await assert_tally_exact(engine, batch_id)

    # Four settle, each twice (a redelivery): counted once. One usage cannot be billed: that job fails, uncharged.
    dispatched = list(feeder.sent)
    feeder.sent[:] = dispatched[:4]
    assert await feeder.settle(twice=True) == 4
    broken = usage(workspace.id, dispatched[4].job_id).model_copy(update={"input_tokens": -5})
    async with engine.begin() as conn:
        await settlement.settle(conn, catalogue, [broken])
    view = await counts(engine, workspace, batch_id, catalogue)
    assert (view["completed"], view["failed"], view["running"]) == (4, 1, 1)
    assert (await tallied(engine, batch_id))["cost_tokens"] == 4 * BILLED
    await assert_tally_exact(engine, batch_id)

    feeder.sent[:] = dispatched[5:]
    assert await feeder.settle() == 1
    await feeder.tick(T0)
    finished = await counts(engine, workspace, batch_id, catalogue)
    assert (finished["status"], finished["completed"], finished["failed"]) == ("completed", 5, 1)
    await assert_tally_exact(engine, batch_id)

    # A batch cancelled before it ran: its lines end unreleased, and its tally stays empty.
    cancelled_id = await store(engine, catalogue, workspace, 3)
    await request_cancel(engine, workspace.id, cancelled_id)
    await feeder.tick(T0)
    view = await counts(engine, workspace, cancelled_id, catalogue)
    assert (view["status"], view["cancelled"], view["running"]) == ("cancelled", 3, 0)
    await assert_tally_exact(engine, cancelled_id)


async def test_an_update_that_moves_nothing_leaves_the_tally_alone_and_a_re_cost_or_delete_moves_it(
    own_engine: AsyncEngine, catalogue: Catalogue
) -> None:
    engine = own_engine
    workspace = await make_workspace(engine, tokens=GRANT)
    batch_id = await store(engine, catalogue, workspace, 2)
    feeder = drive(engine, catalogue)
    await feeder.tick(T0)
    await feeder.settle()
    first, second = (f"bj_{batch_id.removeprefix('batch_')}_{n}" for n in (1, 2))
    async with engine.connect() as conn:
        # An update that moves no count (the feeder's dispatched_at, written without the accounts' locks) leaves the
        # tally's row alone: it takes no lock a settlement could wait on.
        version = text("SELECT xmin::text FROM batch_tallies WHERE batch_id = :b")
        before = (await conn.execute(version, {"b": batch_id})).scalar_one()
        await conn.execute(text("UPDATE jobs SET dispatched_at = now(), answer = NULL WHERE id LIKE 'bj\\_%'"))
        assert (await conn.execute(version, {"b": batch_id})).scalar_one() == before
        # The trigger is all that keeps the tally; whatever changes a job's state or cost, it follows.
        await conn.execute(text("UPDATE jobs SET cost_tokens = cost_tokens + 100 WHERE id = :j"), {"j": first})
        await conn.execute(text("DELETE FROM jobs WHERE id = :j"), {"j": second})
        tally = (
            await conn.execute(
                text("SELECT completed, cost_tokens FROM batch_tallies WHERE batch_id = :b"), {"b": batch_id}
            )
        ).one()
        assert tuple(tally) == (1, BILLED + 100)
        # A batch job whose batch is gone (or never was) is written all the same, with no tally.
        await conn.execute(
            text(
                "INSERT INTO jobs (id, workspace_id, api_key_id, model_id, status) "
                "VALUES ('bj_0000_1', :ws, :key, 'm', 'failed')"
            ),
            {"ws": workspace.id, "key": workspace.key_id},
        )
        assert not (await conn.execute(text("SELECT 1 FROM batch_tallies WHERE batch_id = 'batch_0000'"))).first()
        await conn.rollback()
    await assert_tally_exact(engine, batch_id)
