"""Money rules in PostgreSQL: overruns billed to the floor, recorded prices, refusals and broken usage.

Admission and settlement run here as the ledger runs them (`ledger.admission`, `ledger.settlement`), each
batch in one transaction, with the catalogue passed in, so a test can admit under one catalogue and settle
under another. Every test replays what it settles and ends with the whole book verified.
"""

from __future__ import annotations

import math
import random
import uuid
from fractions import Fraction
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import admission, holds, settlement, verify
from schemas.catalogue import Catalogue, parse_catalogue
from schemas.events import (
    ChatJobDispatched,
    ChatJobSubmitted,
    ChatParameters,
    JobFinished,
    PromptMessage,
    UsageRecorded,
    utc_now,
)
from tests.conftest import make_workspace
from tests.ledger_checks import assert_books_balance, balances, entries_for

CATALOGUE = """
default_model = "m/one"
[providers.openai]
kind = "openai"
base_url = "https://api.openai.com/v1"
[[models]]
id = "m/one"
provider = "openai"
upstream = "one"
pool = "openai"
input_multiplier = "{price}"
output_multiplier = "{price}"
max_output_tokens = 1000
default_max_tokens = 100
context_tokens = 10000
template_tokens_fixed = 0
template_tokens_per_message = 0
"""

SECOND_MODEL = """
[[models]]
id = "m/two"
provider = "openai"
upstream = "two"
pool = "openai"
input_multiplier = "3/2"
output_multiplier = "3/2"
max_output_tokens = 1000
default_max_tokens = 100
context_tokens = 10000
"""


def catalogue(price: str = "1", *, with_second: bool = True) -> Catalogue:
    return parse_catalogue(CATALOGUE.replace("{price}", price) + (SECOND_MODEL if with_second else ""))


def submitted(
    workspace_id: str, *, route: tuple[str, ...] = ("m/one",), estimate: int = 10, max_tokens: int = 90
) -> ChatJobSubmitted:
    return ChatJobSubmitted(
        workspace_id=workspace_id,
        job_id=f"job_{uuid.uuid4().hex}",
        api_key_id="key",
        model_id=route[0],
        route=route,
        input_tokens_estimate=estimate,
        params=ChatParameters(messages=(PromptMessage(role="user", content="hi"),), max_tokens=max_tokens),
    )


def usage_for(job: ChatJobSubmitted, **overrides: Any) -> UsageRecorded:
    fields: dict[str, Any] = {
        "workspace_id": job.workspace_id,
        "job_id": job.job_id,
        "outcome": "completed",
        "model_id": job.model_id,
        "provider": "openai",
        "input_tokens": 10,
        "output_tokens": 20,
        "answer": "ok",
        "finish_reason": "stop",
    }
    return UsageRecorded(**(fields | overrides))


async def admit(engine: AsyncEngine, cat: Catalogue, *jobs: ChatJobSubmitted) -> list[admission.Outcome]:
    async with engine.begin() as conn:
        return await admission.admit(conn, cat, list(jobs), default_deadline_s=1800, now=utc_now())


async def settle(engine: AsyncEngine, cat: Catalogue, *usages: UsageRecorded) -> list[JobFinished]:
    async with engine.begin() as conn:
        return await settlement.settle(conn, cat, list(usages))


async def job_row(engine: AsyncEngine, job_id: str) -> dict[str, Any]:
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM jobs WHERE id = :id"), {"id": job_id})).one()
    return dict(row._mapping)


async def entry_details(engine: AsyncEngine, job_id: str) -> dict[str, Any]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT kind, detail FROM journal_transactions WHERE job_id = :id"), {"id": job_id})
        ).all()
    return {row.kind: row.detail for row in rows}


async def assert_book_verifies(engine: AsyncEngine) -> None:
    assert await verify.verify_database(engine) == []
    await assert_books_balance(engine)


async def test_usage_above_the_hold_is_billed_in_full_and_recorded_as_an_overrun(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=1_000)
    cat = catalogue()
    job = submitted(workspace.id)  # hold 10 + 90 = 100
    await admit(engine, cat, job)
    overrun = usage_for(job, input_tokens=60, output_tokens=90)  # costs 150

    [first] = await settle(engine, cat, overrun)
    [replayed] = await settle(engine, cat, overrun)

    assert (first.cost_tokens, first.balance_left) == (150, 850)
    assert (replayed.cost_tokens, replayed.balance_left) == (150, 850)
    assert await balances(engine, workspace.id) == {"available": 850, "held": 0, "spent": 150, "funding": -1_000}
    row = await job_row(engine, job.job_id)
    assert (row["cost_tokens"], row["overrun_tokens"], row["uncharged_tokens"]) == (150, 50, 0)
    detail = (await entry_details(engine, job.job_id))["debit"]
    assert (detail["priced_cost_tokens"], detail["overrun_tokens"], detail["unbilled_tokens"]) == (150, 50, 0)
    assert await entries_for(engine, job.job_id) == ["hold", "debit"]
    await assert_book_verifies(engine)


@pytest.mark.parametrize(
    ("credit_line", "cost", "available_after", "unbilled"),
    [(0, 120, 0, 80), (30, 150, -30, 50), (500, 200, -80, 0)],
)
async def test_an_overrun_past_the_credit_line_is_charged_down_to_the_floor_and_the_rest_recorded_unbilled(
    engine: AsyncEngine, credit_line: int, cost: int, available_after: int, unbilled: int
) -> None:
    workspace = await make_workspace(engine, tokens=120, credit_line_tokens=credit_line)
    cat = catalogue()
    job = submitted(workspace.id)  # hold 100, 20 left available
    await admit(engine, cat, job)
    usage = usage_for(job, input_tokens=100, output_tokens=100)  # costs 200

    [settled] = await settle(engine, cat, usage)
    await settle(engine, cat, usage)

    assert settled.cost_tokens == cost
    assert await balances(engine, workspace.id) == {
        "available": available_after,
        "held": 0,
        "spent": cost,
        "funding": -120,
    }
    row = await job_row(engine, job.job_id)
    assert (row["overrun_tokens"], row["uncharged_tokens"]) == (cost - 100, unbilled)
    assert (await entry_details(engine, job.job_id))["debit"]["unbilled_tokens"] == unbilled
    await assert_book_verifies(engine)


async def test_a_reprice_between_hold_and_settlement_debits_at_the_recorded_price(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    job = submitted(workspace.id, route=("m/one", "m/two"))
    [dispatch] = await admit(engine, catalogue("1"), job)
    assert isinstance(dispatch, tuple) and isinstance(dispatch[1], ChatJobDispatched)
    # Hold at the dearer fallback's recorded price: ceil((10 + 90) * 3/2).
    assert dispatch[1].hold_tokens == 150
    row = await job_row(engine, job.job_id)
    assert row["terms"]["m/one"]["input"] == "1/1" and row["terms"]["m/two"]["output"] == "3/2"
    assert (await entry_details(engine, job.job_id))["hold"]["terms"] == row["terms"]

    # The ledger restarts with a catalogue that reprices m/one sevenfold and no longer has m/two.
    repriced = catalogue("7", with_second=False)
    [settled] = await settle(engine, repriced, usage_for(job, input_tokens=10, output_tokens=20))
    [replayed] = await settle(engine, repriced, usage_for(job, input_tokens=10, output_tokens=20))

    assert settled.cost_tokens == replayed.cost_tokens == 30
    assert (await entry_details(engine, job.job_id))["debit"]["price"] == {
        "input": "1/1",
        "output": "1/1",
        "cached_input": "1/1",
    }
    assert await balances(engine, workspace.id) == {"available": 9_970, "held": 0, "spent": 30, "funding": -10_000}
    await assert_book_verifies(engine)


async def test_a_fallback_renamed_away_still_settles_at_its_recorded_price(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    job = submitted(workspace.id, route=("m/one", "m/two"))
    await admit(engine, catalogue("1"), job)

    [settled] = await settle(
        engine, catalogue("1", with_second=False), usage_for(job, model_id="m/two", input_tokens=10, output_tokens=10)
    )

    assert (settled.status, settled.cost_tokens) == ("completed", 30)
    await assert_book_verifies(engine)


async def test_an_unknown_model_at_admission_is_rejected_with_model_not_found_and_holds_nothing(
    engine: AsyncEngine,
) -> None:
    workspace = await make_workspace(engine, tokens=1_000)
    gone = submitted(workspace.id, route=("m/gone",))
    fine = submitted(workspace.id)

    outcomes = await admit(engine, catalogue(), gone, fine)
    [replayed] = await admit(engine, catalogue(), gone)

    for refusal in (outcomes[0], replayed):
        assert isinstance(refusal, JobFinished) and refusal.status == "rejected"
        assert refusal.error is not None and refusal.error.code == "model_not_found"
        assert "m/gone" in refusal.error.message
    assert isinstance(outcomes[1], tuple)
    assert await entries_for(engine, gone.job_id) == []
    assert (await job_row(engine, gone.job_id))["status"] == "rejected"
    assert await balances(engine, workspace.id) == {"available": 900, "held": 100, "spent": 0, "funding": -1_000}
    await assert_book_verifies(engine)


@pytest.mark.parametrize(
    ("tokens_in", "tokens_out"),
    [(-5, 10), (10, -1), (2**63, 10), (10, 2**63 + 7), (10**12, 0), (0, 10**9)],
    ids=["negative-in", "negative-out", "bigint-in", "bigint-out", "absurd-in", "absurd-out"],
)
async def test_a_broken_usage_fails_its_job_with_upstream_error_releases_the_hold_and_spares_the_batch(
    engine: AsyncEngine, tokens_in: int, tokens_out: int
) -> None:
    workspace, other = await make_workspace(engine, tokens=1_000), await make_workspace(engine, tokens=1_000)
    cat = catalogue()
    broken, fine = submitted(workspace.id), submitted(other.id)
    await admit(engine, cat, broken, fine)
    bad = usage_for(broken, input_tokens=tokens_in, output_tokens=tokens_out)

    failed, completed = await settle(engine, cat, bad, usage_for(fine))
    [replayed] = await settle(engine, cat, bad)

    for result in (failed, replayed):
        assert result.status == "failed" and result.cost_tokens == 0
        assert result.error is not None and result.error.code == "upstream_error"
    assert (completed.status, completed.cost_tokens) == ("completed", 30)
    assert await balances(engine, workspace.id) == {"available": 1_000, "held": 0, "spent": 0, "funding": -1_000}
    assert await entries_for(engine, broken.job_id) == ["hold", "release"]
    row = await job_row(engine, broken.job_id)
    assert (row["status"], row["input_tokens"], row["output_tokens"]) == ("failed", 0, 0)
    await assert_book_verifies(engine)


async def test_estimated_usage_is_flagged_on_the_job_its_debit_and_its_result(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=1_000)
    cat = catalogue()
    job = submitted(workspace.id)
    await admit(engine, cat, job)

    [first] = await settle(engine, cat, usage_for(job, usage_estimated=True))
    [replayed] = await settle(engine, cat, usage_for(job, usage_estimated=True))

    assert first.usage_estimated and replayed.usage_estimated
    assert (await job_row(engine, job.job_id))["usage_estimated"] is True
    assert (await entry_details(engine, job.job_id))["debit"]["usage_estimated"] is True
    await assert_book_verifies(engine)


async def test_any_text_is_stored_as_sent_through_the_books_json_documents_and_a_replay_bills_once(
    engine: AsyncEngine,
) -> None:
    # Jobs, their entries and their settlements travel to PostgreSQL as JSON documents: text outside ASCII,
    # quotes, backslashes, control characters and escape look-alikes must come back exactly as sent.
    text_of = 'é 中文 🙂 "quoted" \\ back\\slash \\u0041 tab\t new\nline \x1f \u2028 end'
    workspace = await make_workspace(engine, tokens=1_000)
    cat = catalogue()
    plain = submitted(workspace.id)
    job = plain.model_copy(update={"params": plain.params.model_copy(update={"tags": (text_of,)})})
    await admit(engine, cat, job)
    done = usage_for(job, answer=text_of, finish_reason=text_of[:8])

    [first] = await settle(engine, cat, done)
    [replayed] = await settle(engine, cat, done)

    row = await job_row(engine, job.job_id)
    assert (row["answer"], row["finish_reason"], list(row["tags"])) == (text_of, text_of[:8], [text_of])
    assert first.answer == replayed.answer == text_of
    assert (await entry_details(engine, job.job_id))["debit"]["tags"] == [text_of]
    assert await balances(engine, workspace.id) == {"available": 970, "held": 0, "spent": 30, "funding": -1_000}
    await assert_book_verifies(engine)


async def test_a_zero_hold_is_admitted_without_an_entry_and_settles_without_one(engine: AsyncEngine) -> None:
    # The catalogue refuses models priced zero; this is the defence behind it, should a zero hold ever arrive.
    workspace = await make_workspace(engine, tokens=100)
    job_id = f"job_{uuid.uuid4().hex}"
    request = holds.HoldRequest(job_id, workspace.id, "key", "m/one", 0, ())
    async with engine.begin() as conn:
        admitted = await holds.admit(conn, request)
    async with engine.begin() as conn:
        again = await holds.admit(conn, request)

    assert admitted.admitted and admitted.hold_tokens == 0 and again.replayed
    assert await entries_for(engine, job_id) == []
    assert await balances(engine, workspace.id) == {"available": 100, "held": 0, "spent": 0, "funding": -100}
    await assert_book_verifies(engine)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_histories_with_overruns_failures_and_replays_stay_exact(engine: AsyncEngine, seed: int) -> None:
    rng = random.Random(seed)
    granted, credit_line = rng.randint(3_000, 6_000), rng.choice([0, 200])
    workspace = await make_workspace(engine, tokens=granted, credit_line_tokens=credit_line)
    price = rng.choice(["1", "3/2", "1/3"])
    cat = catalogue(price)
    jobs = [submitted(workspace.id, estimate=rng.randint(1, 50), max_tokens=rng.randint(1, 200)) for _ in range(40)]
    admitted: set[str] = set()
    for start in range(0, len(jobs), 8):
        outcomes = await admit(engine, cat, *jobs[start : start + 8])
        admitted |= {
            job.job_id for job, o in zip(jobs[start : start + 8], outcomes, strict=True) if isinstance(o, tuple)
        }
    assert admitted, "some jobs must be held for this test to mean anything"
    usages: list[UsageRecorded] = []
    priced_total = 0
    for job in jobs:
        kind = rng.choice(["fits", "fits", "overrun", "failed", "absurd"])
        tokens = {
            "fits": (rng.randint(0, 10), rng.randint(0, job.params.max_tokens)),
            "overrun": (rng.randint(50, 400), rng.randint(100, 600)),
            "failed": (0, 0),
            "absurd": (rng.choice([-1, 2**63, 10**9]), 1),
        }[kind]
        if kind in ("fits", "overrun") and job.job_id in admitted:
            priced_total += math.ceil(sum(tokens) * Fraction(price))
        usages.append(
            usage_for(
                job,
                outcome="failed" if kind == "failed" else "completed",
                input_tokens=tokens[0],
                output_tokens=tokens[1],
            )
        )
    # Settled in random batches, each followed by a replay of some usage already seen.
    pending = usages[:]
    rng.shuffle(pending)
    while pending:
        size = rng.randint(1, 6)
        batch, pending = pending[:size], pending[size:]
        await settle(engine, cat, *batch, rng.choice(usages))

    async with engine.connect() as conn:
        totals = (
            await conn.execute(
                text(
                    "SELECT sum(cost_tokens), sum(uncharged_tokens), count(*) FILTER (WHERE status = 'queued') "
                    "FROM jobs WHERE workspace_id = :ws"
                ),
                {"ws": workspace.id},
            )
        ).one()
    after = await balances(engine, workspace.id)
    assert after["spent"] == totals[0]
    assert after["available"] == granted - totals[0] - after["held"] >= -credit_line
    # Every priced token is either charged or recorded as unbilled; none is dropped.
    assert totals[0] + totals[1] == priced_total
    assert totals[2] == 0
    await assert_book_verifies(engine)
