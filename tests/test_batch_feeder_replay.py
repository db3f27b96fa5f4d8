"""The batch feeder's tick on PostgreSQL, killed between its commit and its publish, then replayed to the end.

The feeder reads prices and limits once for its credit check and its admission, locks the accounts once, and
records each batch's progress and credit wait in one statement; a tick that died after its commit leaves held,
undispatched jobs that a later tick dispatches again. Usage is settled twice (a redelivery) in batches mixing
two workspaces. Every job must be held once and billed once, the short workspace must wait with a prefix
released and go on after a grant, and the book must verify. It runs on a database of its own, so no other
feeder (a running stack's ledger) releases its lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ingress.batch_ingest import BatchOptions, IngestLimits, ingest
from ingress.key_policy import Principal
from ledger import admission, journal, settlement, verify
from ledger.batch_feeder import BatchFeeder, FeedPolicy, feeder_lock_key
from schemas.catalogue import Catalogue
from schemas.events import ChatJobSubmitted, Envelope, UsageRecorded
from tests.conftest import Workspace, make_workspace
from tests.ledger_checks import assert_books_balance, balances

MODEL = "openai/gpt-4.1-mini"
MAX_TOKENS = 40
# What each job is billed (5 tokens in, 7 out, at the model's price of 1).
BILLED = 12


async def _lines(count: int) -> AsyncIterator[tuple[int, bytes]]:
    for n in range(1, count + 1):
        body = {"model": MODEL, "max_tokens": MAX_TOKENS, "messages": [{"role": "user", "content": f"q{n}"}]}
        yield n, orjson.dumps({"custom_id": f"c{n}", "url": "/v1/chat/completions", "body": body})


async def _store(engine: AsyncEngine, catalogue: Catalogue, workspace: Workspace, lines: int) -> str:
    stored = await ingest(
        engine,
        _lines(lines),
        principal=Principal(key_id=workspace.key_id, workspace_id=workspace.id, default_model=None),
        catalogue=catalogue,
        options=BatchOptions(endpoint="/v1/chat/completions", completion_window_s=3600),
        limits=IngestLimits(lines_max=10_000, errors_max=10, messages_max=16, event_max_bytes=1 << 20),
        now=datetime.now(UTC),
    )
    assert stored.total_lines == lines
    return stored.batch_id


def _usage(workspace_id: str, job_id: str) -> UsageRecorded:
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


async def _book(engine: AsyncEngine, workspace_id: str) -> dict[str, int]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE status = 'completed') AS completed, "
                    "count(*) FILTER (WHERE status = 'queued') AS queued, count(*) AS jobs, "
                    "(SELECT count(*) FROM journal_transactions t WHERE t.workspace_id = :ws AND t.kind = 'hold') "
                    "AS holds, (SELECT count(*) FROM journal_transactions t WHERE t.workspace_id = :ws "
                    "AND t.kind = 'debit') AS debits FROM jobs WHERE workspace_id = :ws"
                ),
                {"ws": workspace_id},
            )
        ).one()
    return dict(row._mapping)


async def test_a_feeder_killed_after_its_commit_redispatches_and_every_job_is_held_and_billed_once(
    own_engine: AsyncEngine, catalogue: Catalogue
) -> None:
    engine = own_engine
    rich = await make_workspace(engine, tokens=10_000_000)
    short = await make_workspace(engine, tokens=0)
    await _store(engine, catalogue, rich, 300)
    short_batch = await _store(engine, catalogue, short, 50)
    # Credit for the cost of 20 jobs and then not quite the 21st line's hold (each settled job hands back what it
    # held beyond its cost): after 20 lines the rest must wait, not fail.
    async with engine.connect() as conn:
        stored = (
            await conn.execute(
                text("SELECT job::text FROM batch_lines WHERE batch_id = :b ORDER BY line_no LIMIT 21"),
                {"b": short_batch},
            )
        ).scalars()
        holds = [admission.hold_request(catalogue, ChatJobSubmitted.model_validate_json(job)).hold for job in stored]
    assert max(holds[:20]) <= holds[20]
    granted_short = 20 * BILLED + holds[20] - 1
    async with engine.begin() as conn:
        await journal.grant(conn, short.id, granted_short, idempotency_key=f"grant:first:{short.id}")
    policy = FeedPolicy(
        in_flight_max=128, release_max=2000, quantum=64, redispatch_grace_s=1, redispatch_check_s=0, adopt_every_s=0
    )
    feeder = BatchFeeder(engine, catalogue, policy, lock_key=feeder_lock_key(f"replay-{uuid.uuid4()}"))

    async def broker_gone(_outgoing: list[tuple[str, bytes, Envelope]]) -> None:
        raise ConnectionError("the broker went away after the feeder's commit")

    # The first tick commits its holds, then dies publishing: nothing is marked dispatched.
    with contextlib.suppress(ConnectionError):
        await feeder.tick(broker_gone, now=datetime.now(UTC))
    async with engine.connect() as conn:
        held = {
            row.id
            for row in await conn.execute(
                text("SELECT id FROM jobs WHERE workspace_id = ANY(:ws) AND dispatched_at IS NULL"),
                {"ws": [rich.id, short.id]},
            )
        }
    assert len(held) > 64

    sent: list[UsageRecorded] = []

    async def publish(outgoing: list[tuple[str, bytes, Envelope]]) -> None:
        sent.extend(_usage(event.workspace_id, event.job_id) for _, _, event in outgoing)

    await asyncio.sleep(1.2)  # past the redispatch grace
    await feeder.tick(publish, now=datetime.now(UTC))
    # Dispatched again: every job the dead tick held (and nothing twice).
    assert held <= {usage.job_id for usage in sent} and len(sent) == len({usage.job_id for usage in sent})
    for _ in range(40):
        batch, sent[:] = list(sent), []
        # Settled twice (a redelivery), in transactions mixing both workspaces' jobs.
        for chunk in (batch, batch[::-1]):
            async with engine.begin() as conn:
                await settlement.settle(conn, catalogue, chunk)
        await feeder.tick(publish, now=datetime.now(UTC))
        if not sent:
            break
    assert await _book(engine, rich.id) == {"completed": 300, "queued": 0, "jobs": 300, "holds": 300, "debits": 300}
    assert await _book(engine, short.id) == {"completed": 20, "queued": 0, "jobs": 20, "holds": 20, "debits": 20}
    async with engine.connect() as conn:
        waiting = (
            await conn.execute(
                text("SELECT waiting_for_credit_since IS NOT NULL, next_line FROM batch_feeds WHERE batch_id = :b"),
                {"b": short_batch},
            )
        ).one()
    assert tuple(waiting) == (True, 21)

    # A grant lets the short workspace's batch go on from where it stopped.
    async with engine.begin() as conn:
        await journal.grant(conn, short.id, 1_000_000, idempotency_key=f"grant:replay:{short.id}")
    for _ in range(20):
        await feeder.tick(publish, now=datetime.now(UTC))
        if not sent:
            break
        batch, sent[:] = list(sent), []
        async with engine.begin() as conn:
            await settlement.settle(conn, catalogue, batch)
    assert await _book(engine, short.id) == {"completed": 50, "queued": 0, "jobs": 50, "holds": 50, "debits": 50}
    for workspace, granted, jobs in ((rich, 10_000_000, 300), (short, granted_short + 1_000_000, 50)):
        assert await balances(engine, workspace.id) == {
            "available": granted - jobs * BILLED,
            "held": 0,
            "spent": jobs * BILLED,
            "funding": -granted,
        }
    await assert_books_balance(engine)
    async with engine.connect() as conn:
        assert await verify.verify(conn) == []
