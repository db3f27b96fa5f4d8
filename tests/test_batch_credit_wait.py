"""A batch waiting for credit costs the feeder nothing until credit comes back, then resumes: the batch feeder on
PostgreSQL, its clock passed in, ticked by hand on a database of its own.

While its workspace cannot pay the hold it ran short of, the feeder reads none of the batch's lines (the tick says
how many it read) and locks nothing for it; settlements that free enough of the workspace's holds, a raised credit
line and a top-up each let it go on at the next tick; a recheck every `credit_recheck_s` reads it once more anyway.
Other workspaces' batches and sync requests complete meanwhile; a feeder restarted mid-wait holds nothing twice; lines
still waiting at the window's end expire uncharged. Every test ends with every sum exact and the book verifying.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import admission, batch_queries, domain, journal, price_book, settlement, workspaces
from ledger.batch_feeder import BatchFeeder, feeder_lock_key
from ledger.settings import LedgerSettings
from schemas.catalogue import Catalogue
from tests.conftest import make_workspace
from tests.ledger_checks import balances
from tests.test_batch_limits import (
    BILLED,
    MAX_TOKENS,
    POLICY,
    Drive,
    Outgoing,
    assert_book_verifies,
    book,
    counts,
    drive,
    first_job,
    store,
    sync_job,
    usage,
)

T0 = datetime.now(UTC)


async def credit_needed(engine: AsyncEngine, batch_id: str) -> int | None:
    async with engine.connect() as conn:
        needed: int | None = (
            await conn.execute(
                text("SELECT credit_needed_tokens FROM batch_feeds WHERE batch_id = :b"), {"b": batch_id}
            )
        ).scalar_one()
    return needed


async def grant(engine: AsyncEngine, workspace_id: str, tokens: int, key: str) -> None:
    async with engine.begin() as conn:
        await journal.grant(conn, workspace_id, tokens, idempotency_key=f"grant:{key}:{workspace_id}")


async def test_a_batch_waiting_for_credit_is_not_read_until_credit_comes_back_then_completes_billed_once(
    own_engine: AsyncEngine, catalogue: Catalogue
) -> None:
    engine = own_engine
    rich = await make_workspace(engine, tokens=10_000_000)
    short = await make_workspace(engine, tokens=0)
    waiting = await store(engine, catalogue, short, 20)
    hold = admission.hold_request(catalogue, await first_job(engine, waiting)).hold
    # The cost of 3 jobs and not quite a 4th hold: each settled job hands back what it held beyond its cost, so the
    # batch goes on line by line as its jobs settle, and waits after 3.
    granted = 3 * BILLED + hold - 1
    await grant(engine, short.id, granted, "first")
    run = drive(engine, catalogue)

    tick = await run.tick(T0)
    assert tick.released == 1 and tick.lines_read > 0
    assert await credit_needed(engine, waiting) == hold
    for _ in range(10):
        await run.settle()
        if not (await run.tick(T0)).released:
            break
    assert (await book(engine, short.id))["completed"] == 3
    assert (await counts(engine, short, waiting, catalogue))["waiting_for_credit"] == 17

    # Nothing changed for the short workspace: its lines are not read, its accounts not locked, the feeder idles
    # once nothing else runs. Another workspace's batch, stored now, and a sync request complete meanwhile.
    others = await store(engine, catalogue, rich, 30)
    like = await first_job(engine, waiting)
    async with engine.begin() as conn:
        [served] = await admission.admit(
            conn, catalogue, [sync_job(like, rich, T0)], default_deadline_s=0, now=T0 + timedelta(seconds=1)
        )
    assert isinstance(served, tuple)
    async with engine.begin() as conn:
        await settlement.settle(conn, catalogue, [usage(rich.id, served[1].job_id)])
    tick = await run.tick(T0 + timedelta(seconds=1))
    assert (tick.lines_read, tick.released, tick.waiting_for_credit) == (30, 30, 1)
    assert await run.settle() == 30
    tick = await run.tick(T0 + timedelta(seconds=2))
    assert tick.finished == [(others, "completed")]
    for second in range(3, 5):
        tick = await run.tick(T0 + timedelta(seconds=second))
        assert (tick.lines_read, tick.released, tick.waiting_for_credit, tick.active) == (0, 0, 1, False)

    # The recheck reads it once more anyway (a price may have changed), then it waits again.
    recheck = T0 + timedelta(seconds=POLICY.credit_recheck_s + 1)
    tick = await run.tick(recheck)
    assert tick.lines_read > 0 and tick.released == 0
    assert (await run.tick(recheck)).lines_read == 0

    # A raised credit line is credit: exactly one more hold fits, one line goes, then the batch waits again.
    async with engine.begin() as conn:
        assert await workspaces.update(conn, short.id, {"credit_line_tokens": 1})
    tick = await run.tick(recheck)
    assert tick.lines_read > 0 and tick.released == 1
    assert (await run.tick(recheck)).lines_read == 0

    # A top-up: the rest goes at the next tick and the batch completes.
    await grant(engine, short.id, 1_000_000, "topup")
    assert (await run.tick(recheck)).released == 16
    assert await credit_needed(engine, waiting) is None
    assert await run.settle(twice=True) == 17
    assert (await run.tick(recheck)).finished == [(waiting, "completed")]

    assert run.refused == []
    assert await book(engine, short.id) == {
        "completed": 20,
        "rejected": 0,
        "queued": 0,
        "cost": 20 * BILLED,
        "holds": 20,
        "debits": 20,
    }
    assert await balances(engine, short.id) == {
        "available": granted + 1_000_000 - 20 * BILLED,
        "held": 0,
        "spent": 20 * BILLED,
        "funding": -(granted + 1_000_000),
    }
    # The other workspace: its 30 batch jobs and its sync request, each billed once.
    assert (await book(engine, rich.id))["completed"] == 30
    assert await balances(engine, rich.id) == {
        "available": 10_000_000 - 31 * BILLED,
        "held": 0,
        "spent": 31 * BILLED,
        "funding": -10_000_000,
    }
    await assert_book_verifies(engine)


async def test_a_feeder_restarted_while_a_batch_waits_for_credit_holds_nothing_twice_and_the_rest_expires_uncharged(
    own_engine: AsyncEngine, catalogue: Catalogue
) -> None:
    engine = own_engine
    workspace = await make_workspace(engine, tokens=0)
    batch = await store(engine, catalogue, workspace, 12)
    hold = admission.hold_request(catalogue, await first_job(engine, batch)).hold
    # Two holds and not quite a third.
    granted = 3 * hold - 1
    await grant(engine, workspace.id, granted, "first")
    first = drive(engine, catalogue)

    async def broker_gone(_outgoing: Outgoing) -> None:
        raise ConnectionError("the broker went away after the feeder's commit")

    # The first tick commits 2 holds and the batch's wait, then dies publishing.
    with contextlib.suppress(ConnectionError):
        await first.feeder.tick(broker_gone, now=T0)
    assert (await book(engine, workspace.id))["holds"] == 2
    assert await credit_needed(engine, batch) == hold

    # A restarted ledger's feeder dispatches the held jobs again, and neither reads nor holds anything more.
    restarted = drive(engine, catalogue)
    await asyncio.sleep(1.2)  # past the redispatch grace
    tick = await restarted.tick(T0)
    assert (tick.released, tick.lines_read, tick.waiting_for_credit, len(restarted.sent)) == (0, 0, 1, 2)
    assert (await book(engine, workspace.id))["holds"] == 2

    # Their settlements (delivered twice) free what they held beyond their cost: the batch goes on until its
    # credit runs short again.
    for _ in range(20):
        await restarted.settle(twice=True)
        if not (await restarted.tick(T0)).released:
            break
    done = await book(engine, workspace.id)
    assert 2 < done["completed"] < 12 and done["queued"] == 0
    assert (await restarted.tick(T0)).lines_read == 0

    # The window ends with the rest still waiting for credit: it expires, holding and costing nothing.
    view = await batch_queries.batch(engine, workspace.id, batch, catalogue=catalogue)
    assert view is not None
    assert (await restarted.tick(view.row.expires_at)).finished == [(batch, "expired")]
    ended = await counts(engine, workspace, batch, catalogue)
    completed = done["completed"]
    assert (ended["status"], ended["completed"], ended["expired"], ended["failed"]) == (
        "expired",
        completed,
        12 - completed,
        0,
    )
    assert restarted.refused == first.refused == []
    assert await book(engine, workspace.id) == {
        "completed": completed,
        "rejected": 0,
        "queued": 0,
        "cost": completed * BILLED,
        "holds": completed,
        "debits": completed,
    }
    assert await balances(engine, workspace.id) == {
        "available": granted - completed * BILLED,
        "held": 0,
        "spent": completed * BILLED,
        "funding": -granted,
    }
    await assert_book_verifies(engine)


async def test_a_batch_stored_while_its_workspace_waits_for_credit_says_so_from_its_first_read_and_is_never_read(
    own_engine: AsyncEngine, catalogue: Catalogue
) -> None:
    engine = own_engine
    workspace = await make_workspace(engine, tokens=0)
    # With no credit at all, a batch the feeder has not seen yet already waits for credit.
    first = await store(engine, catalogue, workspace, 5)
    assert (await counts(engine, workspace, first, catalogue))["waiting_for_credit"] == 5
    hold = admission.hold_request(catalogue, await first_job(engine, first)).hold
    # Two holds and not quite a third: two lines run, the third waits and its batch records the hold it needs.
    granted = 3 * hold - 1
    await grant(engine, workspace.id, granted, "first")
    run = drive(engine, catalogue)
    assert (await run.tick(T0)).released == 2
    assert await credit_needed(engine, first) == hold
    # The credit left (hold - 1) would pay a line asking 20 tokens fewer, but a batch of such lines stored now
    # still waits from its first read: the whole workspace waits (a later batch never overtakes the waiting one).
    second = await store(engine, catalogue, workspace, 4, max_tokens=MAX_TOKENS - 20)
    assert admission.hold_request(catalogue, await first_job(engine, second)).hold <= hold - 1
    seen = await counts(engine, workspace, second, catalogue)
    assert (seen["status"], seen["queued"], seen["waiting_for_credit"]) == ("in_progress", 0, 4)
    tick = await run.tick(T0)
    assert (tick.released, tick.lines_read, tick.waiting_for_credit) == (0, 0, 2)
    assert (await counts(engine, workspace, second, catalogue))["waiting_for_credit"] == 4

    # A top-up: both go on at the next tick and complete, every line billed once.
    await grant(engine, workspace.id, 1_000_000, "topup")
    assert (await counts(engine, workspace, second, catalogue))["queued"] == 4
    assert (await run.tick(T0)).released == 7
    assert await run.settle(twice=True) == 9
    assert sorted((await run.tick(T0)).finished) == sorted([(first, "completed"), (second, "completed")])
    assert run.refused == []
    assert await book(engine, workspace.id) == {
        "completed": 9,
        "rejected": 0,
        "queued": 0,
        "cost": 9 * BILLED,
        "holds": 9,
        "debits": 9,
    }
    assert await balances(engine, workspace.id) == {
        "available": granted + 1_000_000 - 9 * BILLED,
        "held": 0,
        "spent": 9 * BILLED,
        "funding": -(granted + 1_000_000),
    }
    await assert_book_verifies(engine)


async def test_a_price_cut_the_wake_ups_cannot_see_is_picked_up_within_the_configured_credit_recheck(
    own_engine: AsyncEngine, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = own_engine
    # The ledger's own settings, as its entrypoint builds them from the environment.
    monkeypatch.setenv("LUNTREX_BATCH_CREDIT_RECHECK_S", "2")
    monkeypatch.setenv("LUNTREX_BATCH_CAP_RECHECK_S", "0.5")
    policy = LedgerSettings().batch_feed_policy()
    assert (policy.credit_recheck_s, policy.cap_recheck_s) == (2, 0.5)
    run = Drive(engine, catalogue, BatchFeeder(engine, catalogue, policy, lock_key=feeder_lock_key(str(uuid.uuid4()))))
    workspace = await make_workspace(engine, tokens=0)
    batch = await store(engine, catalogue, workspace, 6)
    hold = admission.hold_request(catalogue, await first_job(engine, batch)).hold
    # Not quite one hold: the batch waits for it.
    granted = hold - 1
    await grant(engine, workspace.id, granted, "first")
    tick = await run.tick(T0)
    assert (tick.released, await credit_needed(engine, batch)) == (0, hold)

    # Half the price on every model of the line's route (a fallback may answer, so the hold covers the dearest):
    # one line now fits, but the workspace's credit has not moved, so no tick sees it...
    job = await first_job(engine, batch)
    models = admission.route_models(catalogue, [job])
    async with engine.begin() as conn:
        for model_id in models:
            await price_book.publish_price(
                conn,
                catalogue,
                model_id=model_id,
                input_multiplier=Fraction(1, 2),
                output_multiplier=Fraction(1, 2),
                cached_input_multiplier=None,
                effective_at=None,
            )
        cheap_hold = admission.hold_request(catalogue, job, await price_book.prices_at(conn, models)).hold
    assert cheap_hold <= granted
    for moment in (T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=1.9)):
        tick = await run.tick(moment)
        assert (tick.lines_read, tick.released) == (0, 0)
    # ...until the recheck, 2 s after the batch started waiting (the default, 5 s, would not be due yet).
    tick = await run.tick(T0 + timedelta(seconds=2))
    assert tick.lines_read > 0 and tick.released >= 1
    assert tick.released == granted // cheap_hold

    # A top-up lets the rest go; every line is billed once, at the price in force when it was held.
    await grant(engine, workspace.id, 1_000_000, "topup")
    assert (await run.tick(T0 + timedelta(seconds=3))).released == 6 - tick.released
    assert await run.settle(twice=True) == 6
    assert (await run.tick(T0 + timedelta(seconds=3))).finished == [(batch, "completed")]
    billed = domain.charge_tokens(5, 7, Fraction(1, 2), Fraction(1, 2))
    assert run.refused == []
    assert await book(engine, workspace.id) == {
        "completed": 6,
        "rejected": 0,
        "queued": 0,
        "cost": 6 * billed,
        "holds": 6,
        "debits": 6,
    }
    assert await balances(engine, workspace.id) == {
        "available": granted + 1_000_000 - 6 * billed,
        "held": 0,
        "spent": 6 * billed,
        "funding": -(granted + 1_000_000),
    }
    await assert_book_verifies(engine)
