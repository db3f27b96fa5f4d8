"""The batch feeder reads no more lines than it could release: the feeder on PostgreSQL, ticked by hand.

A batch is released as a prefix, so its next line's pool decides how much of it can go now. While that pool is full
(or has less than half its cap free with batch jobs running there), a tick reads none of the batch's lines, however
many slots the other pools have free; when it has room, the tick reads as many lines as the room, not a share of
every pool's slots. Reading lines a tick cannot release was most of the feeder's work per job while a batch drained.
Every job is still held, settled and billed once, and the book verifies.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.catalogue import Catalogue
from tests.conftest import make_workspace
from tests.test_batch_limits import BILLED, GRANT, POLICY, T0, assert_book_verifies, assert_exact, book, drive, store

LINES = 300


async def test_a_batch_whose_pool_is_full_is_not_read_and_each_tick_reads_only_what_its_pool_has_room_for(
    own_engine: AsyncEngine, catalogue: Catalogue
) -> None:
    engine = own_engine
    cap = POLICY.in_flight_max
    assert len(catalogue.pools()) > 1, "other pools' free slots must not count for this batch's pool"
    workspace = await make_workspace(engine, tokens=GRANT)
    batch_id = await store(engine, catalogue, workspace, LINES)
    run = drive(engine, catalogue)

    tick = await run.tick(T0)
    assert (tick.released, tick.lines_read) == (cap, cap)
    # Its pool is full: nothing of it is read while the other pools sit idle.
    tick = await run.tick(T0)
    assert (tick.released, tick.lines_read) == (0, 0)

    # Fewer than half the cap settled: the tick still waits for a slice worth its statements.
    settled, left = run.sent[: cap // 2 - 1], run.sent[cap // 2 - 1 :]
    run.sent = settled
    await run.settle()
    run.sent = left
    tick = await run.tick(T0)
    assert (tick.released, tick.lines_read) == (0, 0)

    # The rest of the cap settled: the tick reads exactly what the pool has room for, and releases all of it.
    await run.settle()
    tick = await run.tick(T0)
    assert (tick.released, tick.lines_read) == (cap, cap)

    # And the rest of the batch, then it ends, each job billed once (the last ones settled twice, as on a replay).
    finished = []
    while run.sent:
        await run.settle(twice=True)
        tick = await run.tick(T0)
        assert tick.lines_read == tick.released
        finished += tick.finished
    assert finished == [(batch_id, "completed")]
    assert run.refused == []
    assert await book(engine, workspace.id) == {
        "completed": LINES,
        "rejected": 0,
        "queued": 0,
        "cost": LINES * BILLED,
        "holds": LINES,
        "debits": LINES,
    }
    await assert_exact(engine, workspace, LINES)
    await assert_book_verifies(engine)
