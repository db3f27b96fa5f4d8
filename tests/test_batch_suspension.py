"""A suspended workspace's batches release nothing: the batch feeder on PostgreSQL, its clock passed in, ticked by
hand on a database of its own.

While the workspace is suspended the feeder reads none of its batches' lines (the tick says so) while another
workspace's batch goes on; a suspension waits for a tick in progress and no tick runs while it commits; resumed, the
batch goes on; suspended again until its window ends, the rest expires uncharged. Every sum exact, the book verifies.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import batch_feeder, batch_queries, workspaces
from schemas.catalogue import Catalogue
from tests.conftest import make_workspace
from tests.test_batch_limits import BILLED, GRANT, T0, Drive, assert_book_verifies, book, counts, drive, store


async def suspend(run: Drive, workspace_id: str, *, suspended: bool = True) -> None:
    """As the ledger's `suspend` command does it (`ledger/commands.py`)."""
    async with run.engine.begin() as conn:
        if suspended:
            await batch_feeder.exclude_ticks(conn, run.feeder.lock_key)
        assert await workspaces.set_suspended(conn, workspace_id, suspended=suspended)


async def settle_all(run: Drive) -> None:
    while await run.settle():
        pass


async def test_a_suspended_workspaces_batch_is_not_read_resumes_and_expires_uncharged(
    own_engine: AsyncEngine, catalogue: Catalogue
) -> None:
    engine = own_engine
    paused = await make_workspace(engine, tokens=GRANT)
    other = await make_workspace(engine, tokens=GRANT)
    batch = await store(engine, catalogue, paused, 300)
    run = drive(engine, catalogue)
    first = await run.tick(T0)
    released = first.released
    assert 0 < released < 300

    theirs = await store(engine, catalogue, other, 20)
    # A tick cannot run while a suspension commits (it waits for one in progress, and the next reads it): not even
    # the other workspace's lines are read meanwhile.
    async with engine.begin() as conn:
        await batch_feeder.exclude_ticks(conn, run.feeder.lock_key)
        await workspaces.set_suspended(conn, paused.id, suspended=True)
        during = await run.tick(T0)
        assert (during.released, during.lines_read) == (0, 0)
    await settle_all(run)
    # Suspended: none of its lines is read, the other workspace's batch completes, the released jobs are billed.
    for _ in range(5):
        tick = await run.tick(T0)
        assert tick.suspended == 1 and tick.lines_read <= 20
        await settle_all(run)
    assert (await counts(engine, other, theirs, catalogue))["completed"] == 20
    assert (await run.tick(T0)).lines_read == 0
    assert await book(engine, paused.id) == {
        "completed": released,
        "rejected": 0,
        "queued": 0,
        "cost": released * BILLED,
        "holds": released,
        "debits": released,
    }

    # Resumed, it goes on; suspended again, nothing more, and at the window's end the rest expires uncharged.
    await suspend(run, paused.id, suspended=False)
    tick = await run.tick(T0)
    assert tick.released > 0 and tick.suspended == 0
    released += tick.released
    await suspend(run, paused.id)
    await settle_all(run)
    view = await batch_queries.batch(engine, paused.id, batch, catalogue=catalogue)
    assert view is not None and view.status == "in_progress"
    assert (await run.tick(view.row.expires_at)).finished == [(batch, "expired")]
    ended = await counts(engine, paused, batch, catalogue)
    assert (ended["status"], ended["completed"], ended["expired"]) == ("expired", released, 300 - released)
    assert await book(engine, paused.id) == {
        "completed": released,
        "rejected": 0,
        "queued": 0,
        "cost": released * BILLED,
        "holds": released,
        "debits": released,
    }
    await assert_book_verifies(engine)
