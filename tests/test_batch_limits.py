"""Batches are throttled by their limits, never failed by them: the batch feeder on PostgreSQL with its clock passed in.

A line a rate limit (`rpm_max`, `tpm_max`) or a spend cap refuses stays unreleased (nothing held, recorded or
charged), its batch waits until the limit may let it through, and the feeder does not look at it meanwhile; other
workspaces' batches and sync requests go on; lines still waiting at the window's end expire uncharged. Each test
drives the feeder tick by tick on a database of its own (no running stack's ledger feeds its batches), settles what
it dispatched, and ends with every sum exact and the book verifying.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ingress.batch_ingest import BatchOptions, IngestLimits, ingest
from ingress.key_policy import Principal
from ledger import admission, batch_queries, limits, settlement, verify
from ledger.batch_feeder import BatchFeeder, FeedPolicy, Tick, feeder_lock_key
from schemas.catalogue import Catalogue
from schemas.events import ChatJobDispatched, ChatJobSubmitted, Envelope, JobFinished, UsageRecorded
from tests.conftest import Workspace, make_workspace
from tests.ledger_checks import assert_books_balance, balances

MODEL = "openai/gpt-4.1-mini"
MAX_TOKENS = 40
# What each job is billed (5 tokens in, 7 out, at the model's price of 1).
BILLED = 12
GRANT = 10_000_000
# The feeder's clock: 5 s into a minute, so a minute window ends 55 s later.
T0 = datetime.now(UTC).replace(second=5, microsecond=0)
POLICY = FeedPolicy(
    in_flight_max=128, release_max=2000, quantum=64, redispatch_grace_s=1, redispatch_check_s=0, adopt_every_s=0
)

Outgoing = list[tuple[str, bytes, Envelope]]


async def _lines(count: int, max_tokens: int) -> AsyncIterator[tuple[int, bytes]]:
    for n in range(1, count + 1):
        body = {"model": MODEL, "max_tokens": max_tokens, "messages": [{"role": "user", "content": f"q{n}"}]}
        yield n, orjson.dumps({"custom_id": f"c{n}", "url": "/v1/chat/completions", "body": body})


async def store(
    engine: AsyncEngine,
    catalogue: Catalogue,
    workspace: Workspace,
    lines: int,
    window_s: int = 3600,
    max_tokens: int = MAX_TOKENS,
) -> str:
    stored = await ingest(
        engine,
        _lines(lines, max_tokens),
        principal=Principal(key_id=workspace.key_id, workspace_id=workspace.id, default_model=None),
        catalogue=catalogue,
        options=BatchOptions(endpoint="/v1/chat/completions", completion_window_s=window_s),
        limits=IngestLimits(lines_max=10_000, errors_max=10, messages_max=16, event_max_bytes=1 << 20),
        now=datetime.now(UTC),
    )
    assert stored.total_lines == lines
    return stored.batch_id


async def first_job(engine: AsyncEngine, batch_id: str) -> ChatJobSubmitted:
    async with engine.connect() as conn:
        job = (
            await conn.execute(
                text("SELECT job::text FROM batch_lines WHERE batch_id = :b AND line_no = 1"), {"b": batch_id}
            )
        ).scalar_one()
    return ChatJobSubmitted.model_validate_json(job)


async def set_limits(engine: AsyncEngine, table: str, row_id: str, **values: int) -> None:
    sets = ", ".join(f"{column} = :{column}" for column in values)
    async with engine.begin() as conn:
        await conn.execute(text(f"UPDATE {table} SET {sets} WHERE id = :id"), {"id": row_id, **values})


def usage(workspace_id: str, job_id: str) -> UsageRecorded:
    return UsageRecorded(
        workspace_id=workspace_id,
        job_id=job_id,
        outcome="completed",
        model_id=MODEL,
        provider="openai",
        input_tokens=5,
        output_tokens=7,
        answer=f"answer of {job_id}",
        finish_reason="stop",
        attempts=1,
    )


@dataclass
class Drive:
    """A feeder ticked by hand: what it dispatched waits here to be settled; what it refused is kept."""

    engine: AsyncEngine
    catalogue: Catalogue
    feeder: BatchFeeder
    sent: list[ChatJobDispatched] = field(default_factory=list)
    refused: list[JobFinished] = field(default_factory=list)

    async def publish(self, outgoing: Outgoing) -> None:
        for _, _, event in outgoing:
            if isinstance(event, ChatJobDispatched):
                self.sent.append(event)
            elif isinstance(event, JobFinished):
                self.refused.append(event)

    async def tick(self, now: datetime) -> Tick:
        return await self.feeder.tick(self.publish, now=now)

    async def settle(self, *, twice: bool = False) -> int:
        """Settle every dispatched job (twice, in reverse, as a redelivery would); how many there were."""
        done = [usage(event.workspace_id, event.job_id) for event in self.sent]
        self.sent.clear()
        for chunk in (done, done[::-1]) if twice else (done,):
            if chunk:
                async with self.engine.begin() as conn:
                    await settlement.settle(conn, self.catalogue, chunk)
        return len(done)


def drive(engine: AsyncEngine, catalogue: Catalogue) -> Drive:
    return Drive(
        engine, catalogue, BatchFeeder(engine, catalogue, POLICY, lock_key=feeder_lock_key(f"limits-{uuid.uuid4()}"))
    )


async def counts(engine: AsyncEngine, workspace: Workspace, batch_id: str, catalogue: Catalogue) -> dict[str, Any]:
    view = await batch_queries.batch(engine, workspace.id, batch_id, catalogue=catalogue)
    assert view is not None
    return {"status": view.status, **view.counts}


async def throttled_until(engine: AsyncEngine, batch_id: str) -> datetime | None:
    async with engine.connect() as conn:
        found: datetime | None = (
            await conn.execute(text("SELECT throttled_until FROM batch_feeds WHERE batch_id = :b"), {"b": batch_id})
        ).scalar_one()
    return found


async def book(engine: AsyncEngine, workspace_id: str) -> dict[str, int]:
    """The workspace's batch jobs by state, its holds and debits, and what its jobs cost."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE status = 'completed') AS completed, "
                    "count(*) FILTER (WHERE status = 'rejected') AS rejected, "
                    "count(*) FILTER (WHERE status = 'queued') AS queued, "
                    "CAST(coalesce(sum(cost_tokens), 0) AS bigint) AS cost, "
                    "(SELECT count(*) FROM journal_transactions t WHERE t.workspace_id = :ws AND t.kind = 'hold') "
                    "AS holds, (SELECT count(*) FROM journal_transactions t WHERE t.workspace_id = :ws "
                    "AND t.kind = 'debit') AS debits FROM jobs WHERE workspace_id = :ws AND id LIKE 'bj\\_%'"
                ),
                {"ws": workspace_id},
            )
        ).one()
    return dict(row._mapping)


async def assert_exact(engine: AsyncEngine, workspace: Workspace, billed_jobs: int) -> None:
    assert await balances(engine, workspace.id) == {
        "available": GRANT - billed_jobs * BILLED,
        "held": 0,
        "spent": billed_jobs * BILLED,
        "funding": -GRANT,
    }


async def assert_book_verifies(engine: AsyncEngine) -> None:
    await assert_books_balance(engine)
    async with engine.connect() as conn:
        assert await verify.verify(conn) == []


def sync_job(like: ChatJobSubmitted, workspace: Workspace, now: datetime) -> ChatJobSubmitted:
    """An interactive request of this workspace's key, as ingress would submit it."""
    return like.model_copy(
        update={
            "job_id": f"job_{uuid.uuid4().hex}",
            "workspace_id": workspace.id,
            "api_key_id": workspace.key_id,
            "lane": "interactive",
            "deadline_at": now + timedelta(seconds=60),
        }
    )


async def test_a_batch_over_its_keys_rpm_waits_window_by_window_while_others_run_and_bills_each_line_once(
    own_engine: AsyncEngine, catalogue: Catalogue
) -> None:
    engine = own_engine
    limited = await make_workspace(engine, tokens=GRANT)
    other = await make_workspace(engine, tokens=GRANT)
    await set_limits(engine, "api_keys", limited.key_id, rpm_max=5)
    slow = await store(engine, catalogue, limited, 12)
    fast = await store(engine, catalogue, other, 30)
    run = drive(engine, catalogue)

    # The first window lets 5 of the limited batch's lines through; the other workspace's batch all goes.
    assert (await run.tick(T0)).released == 35
    window_end = limits.window_start_of(T0) + timedelta(seconds=60)
    assert await throttled_until(engine, slow) == window_end
    assert await counts(engine, limited, slow, catalogue) == {
        "status": "in_progress",
        "total": 12,
        "queued": 0,
        "waiting_for_credit": 0,
        "waiting_for_limit": 7,
        "running": 5,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
        "expired": 0,
    }

    # Sync requests meanwhile: the limited key's is refused at once (429, as before); another workspace's runs.
    like = await first_job(engine, slow)
    async with engine.begin() as conn:
        refused, served = await admission.admit(
            conn,
            catalogue,
            [sync_job(like, limited, T0), sync_job(like, other, T0)],
            default_deadline_s=0,
            now=T0 + timedelta(seconds=1),
        )
    assert isinstance(refused, JobFinished) and refused.error is not None
    assert refused.error.code == "rate_limit_exceeded"
    assert isinstance(served, tuple)
    async with engine.begin() as conn:
        await settlement.settle(conn, catalogue, [usage(other.id, served[1].job_id)])
    assert await run.settle() == 35

    # Within the window the limited batch is not looked at again; the other batch finishes, then the feeder idles.
    tick = await run.tick(T0 + timedelta(seconds=2))
    assert tick.released == 0 and tick.finished == [(fast, "completed")]
    tick = await run.tick(T0 + timedelta(seconds=30))
    assert tick.released == 0 and not tick.active and not tick.outgoing

    # Each new window lets the next 5 through, until the batch completes.
    assert (await run.tick(window_end)).released == 5
    assert await throttled_until(engine, slow) == window_end + timedelta(seconds=60)
    assert await run.settle() == 5
    assert (await run.tick(window_end + timedelta(seconds=60))).released == 2
    assert await throttled_until(engine, slow) is None
    assert await run.settle() == 2
    assert (await run.tick(window_end + timedelta(seconds=61))).finished == [(slow, "completed")]

    assert run.refused == []
    done = await counts(engine, limited, slow, catalogue)
    assert (done["status"], done["completed"], done["failed"], done["waiting_for_limit"]) == ("completed", 12, 0, 0)
    assert await book(engine, limited.id) == {
        "completed": 12,
        "rejected": 0,
        "queued": 0,
        "cost": 12 * BILLED,
        "holds": 12,
        "debits": 12,
    }
    assert (await book(engine, other.id))["completed"] == 30
    await assert_exact(engine, limited, 12)
    await assert_exact(engine, other, 31)
    await assert_book_verifies(engine)


async def test_a_feeder_restarted_mid_throttle_holds_nothing_twice_and_lines_still_waiting_expire_uncharged(
    own_engine: AsyncEngine, catalogue: Catalogue
) -> None:
    engine = own_engine
    workspace = await make_workspace(engine, tokens=GRANT)
    batch = await store(engine, catalogue, workspace, 10)
    job = await first_job(engine, batch)
    tokens = job.input_tokens_estimate + job.params.output_tokens_bound()
    # The workspace's tokens-per-minute limit lets 3 lines through a window.
    await set_limits(engine, "workspaces", workspace.id, tpm_max=3 * tokens + tokens // 2)
    first = drive(engine, catalogue)

    async def broker_gone(_outgoing: Outgoing) -> None:
        raise ConnectionError("the broker went away after the feeder's commit")

    # The first tick commits 3 holds and the batch's wait, then dies publishing.
    with contextlib.suppress(ConnectionError):
        await first.feeder.tick(broker_gone, now=T0)
    assert (await book(engine, workspace.id))["holds"] == 3
    window_end = limits.window_start_of(T0) + timedelta(seconds=60)
    assert await throttled_until(engine, batch) == window_end

    # A new feeder (a restarted ledger) dispatches the held jobs again, but holds nothing more in the window.
    restarted = drive(engine, catalogue)
    await asyncio.sleep(1.2)  # past the redispatch grace
    tick = await restarted.tick(T0 + timedelta(seconds=10))
    assert tick.released == 0 and len(restarted.sent) == 3
    assert (await book(engine, workspace.id))["holds"] == 3
    assert await restarted.settle(twice=True) == 3

    assert (await restarted.tick(window_end)).released == 3
    assert await restarted.settle(twice=True) == 3
    assert (await counts(engine, workspace, batch, catalogue))["waiting_for_limit"] == 4

    # The window ends with 4 lines still waiting for the limit: they expire, holding and costing nothing.
    view = await batch_queries.batch(engine, workspace.id, batch, catalogue=catalogue)
    assert view is not None
    assert (await restarted.tick(view.row.expires_at)).finished == [(batch, "expired")]
    done = await counts(engine, workspace, batch, catalogue)
    assert (done["status"], done["completed"], done["expired"], done["failed"]) == ("expired", 6, 4, 0)
    view = await batch_queries.batch(engine, workspace.id, batch, catalogue=catalogue)
    assert view is not None
    results = [line async for line in batch_queries.results(engine, view, chunk_lines=100)]
    assert sorted(line.state for line in results) == ["completed"] * 6 + ["expired"] * 4
    assert all(line.result is None for line in results if line.state == "expired")
    assert restarted.refused == first.refused == []
    assert await book(engine, workspace.id) == {
        "completed": 6,
        "rejected": 0,
        "queued": 0,
        "cost": 6 * BILLED,
        "holds": 6,
        "debits": 6,
    }
    await assert_exact(engine, workspace, 6)
    await assert_book_verifies(engine)


async def test_a_batch_at_its_keys_daily_spend_cap_waits_for_settlements_and_the_next_day_never_passing_the_cap(
    own_engine: AsyncEngine, catalogue: Catalogue
) -> None:
    engine = own_engine
    workspace = await make_workspace(engine, tokens=GRANT)
    batch = await store(engine, catalogue, workspace, 12, window_s=3 * 86_400)
    hold = admission.hold_request(catalogue, await first_job(engine, batch)).hold
    cap = 3 * hold
    await set_limits(engine, "api_keys", workspace.key_id, daily_spend_max_tokens=cap)
    # A key whose cap is below one line's hold: no wait could let its lines through, so they fail at once.
    hopeless = await make_workspace(engine, tokens=GRANT)
    await set_limits(engine, "api_keys", hopeless.key_id, daily_spend_max_tokens=hold - 1)
    never = await store(engine, catalogue, hopeless, 2)
    run = drive(engine, catalogue)

    # 3 holds fill the cap: the batch waits, rechecked a second later (settlements free what jobs did not cost).
    assert (await run.tick(T0)).released == 3 + 2
    assert {(event.job_id.split("_")[1], event.error.code if event.error else "") for event in run.refused} == {
        (never.removeprefix("batch_"), "spend_cap_reached")
    }
    assert await throttled_until(engine, batch) == T0 + timedelta(seconds=1)
    assert (await run.tick(T0 + timedelta(milliseconds=500))).released == 0
    now = T0
    for _ in range(30):
        await run.settle()
        now += timedelta(seconds=1)
        if not (await run.tick(now)).released and not run.sent:
            break
    # The day's cost and running holds never pass the cap; the rest waits for the next day.
    spent = await book(engine, workspace.id)
    assert spent["queued"] == 0 and 3 < spent["completed"] < 12 and spent["cost"] <= cap
    assert await throttled_until(engine, batch) == now + timedelta(seconds=1)
    waiting = await counts(engine, workspace, batch, catalogue)
    assert waiting["waiting_for_limit"] == 12 - spent["completed"] and waiting["failed"] == 0

    now = limits.day_start_of(T0) + timedelta(days=1, seconds=5)
    for _ in range(30):
        tick = await run.tick(now)
        if tick.finished:
            break
        await run.settle()
        now += timedelta(seconds=1)
    assert tick.finished == [(batch, "completed")]
    assert len(run.refused) == 2
    assert await book(engine, workspace.id) == {
        "completed": 12,
        "rejected": 0,
        "queued": 0,
        "cost": 12 * BILLED,
        "holds": 12,
        "debits": 12,
    }
    await assert_exact(engine, workspace, 12)
    failed = await counts(engine, hopeless, never, catalogue)
    assert (failed["status"], failed["failed"]) == ("completed", 2)
    await assert_book_verifies(engine)
