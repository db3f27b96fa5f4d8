"""The ledger's hot path as the agents run it (admission, dispatch mark, settlement), replayed, on PostgreSQL.

The batch statements carry whole batches as one JSON document, the deadline rides with the job's row, prices and
limits are read in one round trip, and the dispatch mark is one autocommit statement. These tests replay every
stage and require texts stored exactly, each job held and billed once, and the book's sums exact.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from fractions import Fraction

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import admission, inbound, price_book, settlement, verify
from schemas.catalogue import Catalogue
from schemas.events import (
    ChatJobDispatched,
    ChatJobSubmitted,
    ChatParameters,
    JobFinished,
    PromptMessage,
    UsageRecorded,
)
from schemas.events import encode as encode_event
from tests.conftest import make_workspace
from tests.ledger_checks import assert_books_balance, balances

MODEL = "openai/gpt-4.1-mini"
# A model of the tests' catalogue no other test prices, so publishing a price for it touches no other test.
REPRICED = "test/hot-path"
# Texts the driver once escaped element by element; each must come back exactly as sent.
HOSTILE_TAGS = ('quote"d', "back\\slash", "{brace}", "comma,semi;", "null", "", "ünï 😀", "ctl\x01\x1f")
HOSTILE_ANSWERS = ('say "hi"\\n', "line\nbreak\ttab", "null", "", "{}", "ünï 😀 \u2028", "\\u0000 as text")


def submitted(
    workspace_id: str,
    key_id: str,
    job_id: str,
    *,
    tags: tuple[str, ...] = (),
    max_tokens: int = 100,
    model_id: str = MODEL,
) -> bytes:
    return encode_event(
        ChatJobSubmitted(
            workspace_id=workspace_id,
            job_id=job_id,
            api_key_id=key_id,
            model_id=model_id,
            route=(model_id,),
            input_tokens_estimate=10,
            params=ChatParameters(
                messages=(PromptMessage(role="user", content="hello"),), max_tokens=max_tokens, tags=tags
            ),
        )
    )


def used(workspace_id: str, job_id: str, answer: str, tokens_out: int, model_id: str = MODEL) -> bytes:
    return encode_event(
        UsageRecorded(
            workspace_id=workspace_id,
            job_id=job_id,
            outcome="completed",
            model_id=model_id,
            provider="openai",
            input_tokens=7,
            output_tokens=tokens_out,
            answer=answer,
            finish_reason="stop",
            attempts=1,
        )
    )


async def admit(engine: AsyncEngine, catalogue: Catalogue, payloads: list[bytes]) -> list[admission.Outcome]:
    jobs = [inbound.submitted(payload, catalogue) for payload in payloads]
    async with engine.begin() as conn:
        return await admission.admit(conn, catalogue, jobs, default_deadline_s=600, now=datetime.now(UTC))


async def settle(engine: AsyncEngine, catalogue: Catalogue, payloads: list[bytes]) -> list[JobFinished]:
    async with engine.begin() as conn:
        return await settlement.settle(conn, catalogue, [inbound.usage(payload, catalogue) for payload in payloads])


async def test_both_stages_replayed_store_every_text_exactly_and_hold_and_bill_each_job_once(
    engine: AsyncEngine, catalogue: Catalogue
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    jobs = [f"job_{uuid.uuid4().hex}" for _ in HOSTILE_ANSWERS]
    payloads = [
        submitted(workspace.id, workspace.key_id, job_id, tags=HOSTILE_TAGS[index:] + HOSTILE_TAGS[:index])
        for index, job_id in enumerate(jobs)
    ]
    # The batch with a redelivery inside it, then the whole batch again: one hold each.
    first = await admit(engine, catalogue, [*payloads, payloads[0]])
    dispatched = [outcome[1] for outcome in first if isinstance(outcome, tuple)]
    assert [dispatch.job_id for dispatch in dispatched] == [*jobs, jobs[0]]
    assert all(isinstance(dispatch, ChatJobDispatched) for dispatch in dispatched)
    again = await admit(engine, catalogue, payloads)
    assert all(isinstance(outcome, tuple) for outcome in again), "not yet marked: a replay dispatches again"
    await admission.mark_dispatched(engine, jobs)
    assert await admit(engine, catalogue, payloads) == [None] * len(jobs), "marked: a replay is not dispatched"

    async with engine.connect() as conn:
        rows = {
            row.id: row
            for row in await conn.execute(
                text("SELECT id, tags, deadline_at, dispatched_at, hold_tokens FROM jobs WHERE id = ANY(:ids)"),
                {"ids": jobs},
            )
        }
    for index, job_id in enumerate(jobs):
        assert tuple(rows[job_id].tags) == HOSTILE_TAGS[index:] + HOSTILE_TAGS[:index]
        assert rows[job_id].deadline_at is not None and rows[job_id].dispatched_at is not None
    hold_each = rows[jobs[0]].hold_tokens
    assert (await balances(engine, workspace.id))["held"] == hold_each * len(jobs)

    usages = [
        used(workspace.id, job_id, answer, 20 + n)
        for n, (job_id, answer) in enumerate(zip(jobs, HOSTILE_ANSWERS, strict=True))
    ]
    results = await settle(engine, catalogue, [*usages, usages[1]])
    replayed = await settle(engine, catalogue, usages)
    assert [r.answer for r in results[: len(jobs)]] == list(HOSTILE_ANSWERS)
    assert [(r.job_id, r.cost_tokens, r.answer) for r in replayed] == [
        (r.job_id, r.cost_tokens, r.answer) for r in results[: len(jobs)]
    ]
    async with engine.connect() as conn:
        stored = dict(
            (await conn.execute(text("SELECT id, answer FROM jobs WHERE id = ANY(:ids)"), {"ids": jobs})).all()
        )
        debits = (
            await conn.execute(
                text("SELECT count(*) FROM journal_transactions WHERE job_id = ANY(:ids) AND kind = 'debit'"),
                {"ids": jobs},
            )
        ).scalar_one()
    assert stored == dict(zip(jobs, HOSTILE_ANSWERS, strict=True))
    assert debits == len(jobs)
    cost = sum(7 + 20 + n for n in range(len(jobs)))
    assert await balances(engine, workspace.id) == {
        "available": 100_000 - cost,
        "held": 0,
        "spent": cost,
        "funding": -100_000,
    }
    await assert_books_balance(engine)
    async with engine.connect() as conn:
        assert await verify.verify(conn) == []


async def test_prices_and_limits_read_in_one_round_trip_apply_to_the_very_next_admission(
    engine: AsyncEngine, catalogue: Catalogue
) -> None:
    workspace = await make_workspace(engine, tokens=10_000_000)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE api_keys SET rpm_max = 2 WHERE id = :id"), {"id": workspace.key_id})
    three = [submitted(workspace.id, workspace.key_id, f"job_{uuid.uuid4().hex}") for _ in range(3)]
    outcomes = await admit(engine, catalogue, three)
    assert [isinstance(outcome, tuple) for outcome in outcomes] == [True, True, False]
    refused = outcomes[2]
    assert isinstance(refused, JobFinished) and refused.error is not None
    assert refused.error.code == "rate_limit_exceeded"

    # A price published now (an admin's) prices the next job; the limit lifted, it is admitted.
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE api_keys SET rpm_max = NULL WHERE id = :id"), {"id": workspace.key_id})
        version = await price_book.publish_price(
            conn,
            catalogue,
            model_id=REPRICED,
            input_multiplier=Fraction(3),
            output_multiplier=Fraction(5, 2),
            cached_input_multiplier=None,
            effective_at=None,
        )
    job_id = f"job_{uuid.uuid4().hex}"
    payload = submitted(workspace.id, workspace.key_id, job_id, max_tokens=100, model_id=REPRICED)
    [outcome] = await admit(engine, catalogue, [payload])
    assert isinstance(outcome, tuple)
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT hold_tokens, terms FROM jobs WHERE id = :id"), {"id": job_id})).one()
    assert row.terms[REPRICED]["price_version_id"] == version.id
    assert (row.terms[REPRICED]["input"], row.terms[REPRICED]["output"]) == ("3/1", "5/2")
    # The input estimate (10) at 3 per token and max_tokens (100) at 5/2.
    assert row.hold_tokens == outcome[1].hold_tokens == 3 * 10 + 250
    [finished] = await settle(engine, catalogue, [used(workspace.id, job_id, "ok", 4, model_id=REPRICED)])
    assert finished.cost_tokens == 3 * 7 + 10  # billed at the version the job was held under
    await assert_books_balance(engine)
