"""Statements reconcile to the token over randomized histories; entries page by keyset; usage adds up."""

from __future__ import annotations

import csv
import dataclasses
import io
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import corrections, debits, finance_queries, holds, journal, topups
from ledger.finance_queries import EntryFilter
from ledger.topups import Finance
from tests.conftest import make_workspace
from tests.ledger_checks import assert_books_balance, balances
from tests.test_ledger_repository import hold_request, usage_of

FINANCE = Finance.local()


@dataclass
class Period:
    topups: int = 0
    debits: int = 0
    refunds: int = 0
    adjustments: int = 0
    debits_by_model: dict[str, int] = field(default_factory=dict)


@dataclass
class History:
    """What the random history did, period by period, as the test itself counted it."""

    periods: list[Period] = field(default_factory=lambda: [Period()])
    boundaries: list[datetime] = field(default_factory=list)
    completed: list[tuple[str, int]] = field(default_factory=list)
    invoices: list[str] = field(default_factory=list)


async def now(engine: AsyncEngine) -> datetime:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT clock_timestamp()"))).scalar_one()  # type: ignore[no-any-return]


async def step(engine: AsyncEngine, rng: random.Random, workspace_id: str, history: History) -> None:
    period = history.periods[-1]
    choice = rng.choice(["grant", "topup", "invoice", "declined", "jobs", "jobs", "jobs", "refund", "adjust", "pay"])
    async with engine.begin() as conn:
        if choice == "grant":
            tokens = rng.randint(1, 5_000)
            await journal.grant(conn, workspace_id, tokens, idempotency_key=f"grant:{uuid.uuid4().hex}")
            period.topups += tokens
        elif choice in ("topup", "invoice", "declined"):
            paisa = rng.randint(1, 3_000) * 100 + (2 if choice == "declined" else rng.choice([0, 1, 50, 99]))
            outcome = await topups.request_topup(
                conn,
                FINANCE,
                workspace_id=workspace_id,
                amount_paisa=paisa,
                method="invoice" if choice == "invoice" else "card",
                idempotency_key=uuid.uuid4().hex,
            )
            if outcome.topup.status == "succeeded":
                period.topups += outcome.topup.tokens
                if choice == "invoice":
                    history.invoices.append(f"inv_{outcome.topup.id}")
        elif choice == "jobs":
            await run_jobs(conn, rng, workspace_id, history)
        elif choice == "refund" and history.completed:
            job_id, cost = history.completed.pop(rng.randrange(len(history.completed)))
            await corrections.refund_job(conn, workspace_id, job_id, reason="random refund", actor="test")
            period.refunds += cost
        elif choice == "adjust":
            available = (await journal.lock_accounts(conn, {workspace_id}))[workspace_id].available
            tokens = rng.randint(-max(0, min(available, 500)), 500) or 1
            await corrections.adjust(
                conn, workspace_id, tokens, reason="random", actor="test", idempotency_key=uuid.uuid4().hex
            )
            period.adjustments += tokens
        elif choice == "pay" and history.invoices:
            await topups.mark_invoice_paid(conn, workspace_id, history.invoices.pop())


async def run_jobs(conn, rng: random.Random, workspace_id: str, history: History) -> None:  # type: ignore[no-untyped-def]
    """A batch admitted and settled through the real functions: some complete, some fail, some are refused."""
    requests = [hold_request(workspace_id, rng.randint(1, 400)) for _ in range(rng.randint(1, 6))]
    admitted = [a for a in await holds.admit_batch(conn, requests) if a.admitted]
    by_id = {r.job_id: r for r in requests}
    usages = []
    for admission in admitted:
        completed = rng.random() < 0.8
        cost = rng.randint(0, by_id[admission.job_id].hold) if completed else 0
        usages.append(usage_of(admission.job_id, cost, completed))
    settled = await debits.settle_batch(conn, {workspace_id}, usages)
    period = history.periods[-1]
    for job in settled:
        assert job is not None
        period.debits += job.cost_tokens
        period.debits_by_model[job.model_id] = period.debits_by_model.get(job.model_id, 0) + job.cost_tokens
        if job.status == "completed" and job.cost_tokens > 0:
            history.completed.append((job.job_id, job.cost_tokens))


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
async def test_statements_reconcile_over_random_histories(engine: AsyncEngine, seed: int) -> None:
    rng = random.Random(seed)
    workspace = await make_workspace(engine, tokens=0)
    history = History()
    for _ in range(3):
        for _ in range(rng.randint(5, 25)):
            await step(engine, rng, workspace.id, history)
        history.boundaries.append(await now(engine))
        history.periods.append(Period())
    bounds: list[datetime | None] = [None, *history.boundaries, None]
    opening = 0
    async with engine.connect() as conn:
        for index, period in enumerate(history.periods):
            since, until = bounds[index], bounds[index + 1]
            found = await finance_queries.statement(conn, workspace.id, since=since, until=until)
            assert found.opening_balance_tokens == opening
            assert (found.topups_tokens, found.debits_tokens, found.refunds_tokens, found.adjustments_tokens) == (
                period.topups,
                period.debits,
                period.refunds,
                period.adjustments,
            )
            assert found.other_tokens == 0
            assert found.closing_balance_tokens == (
                opening + period.topups - period.debits + period.refunds + period.adjustments
            )
            assert {line["model"]: line["tokens"] for line in found.debits_by_model if line["tokens"]} == {
                model: tokens for model, tokens in period.debits_by_model.items() if tokens
            }
            opening = found.closing_balance_tokens
    now_balances = await balances(engine, workspace.id)
    assert opening == now_balances["available"] + now_balances["held"]
    await assert_books_balance(engine)


async def test_the_csv_statement_streams_every_entry_with_a_running_balance(engine: AsyncEngine) -> None:
    rng = random.Random(99)
    workspace = await make_workspace(engine, tokens=5_000)
    history = History()
    for _ in range(30):
        await step(engine, rng, workspace.id, history)
    async with engine.connect() as conn:
        summary = await finance_queries.statement(conn, workspace.id, since=None, until=None)
        chunks = [chunk async for chunk in finance_queries.statement_csv(conn, workspace.id, since=None, until=None)]
    lines = list(csv.reader(io.StringIO(b"".join(chunks).decode())))
    header = lines.index(finance_queries.CSV_COLUMNS)
    rows = lines[header + 1 :]
    assert rows, "the statement lists the entries that moved the balance"
    assert int(rows[-1][-1]) == summary.closing_balance_tokens
    assert sum(int(row[6]) for row in rows) == summary.closing_balance_tokens - summary.opening_balance_tokens
    assert ["closing_balance", "", str(summary.closing_balance_tokens)] in lines[:header]


async def test_entries_page_by_keyset_without_repeats_or_gaps(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    async with engine.begin() as conn:
        requests = [hold_request(workspace.id, 10) for _ in range(12)]
        await holds.admit_batch(conn, requests)
        await debits.settle_batch(conn, {workspace.id}, [usage_of(r.job_id, 7) for r in requests])
    seen: list[int] = []
    cursor = None
    async with engine.connect() as conn:
        while True:
            page, cursor = await finance_queries.entries(conn, workspace.id, EntryFilter(), cursor=cursor, limit=5)
            seen += [entry["id"] for entry in page]
            if len(seen) == 5:
                # An entry written between pages is newer than the cursor: it never shifts later pages.
                async with engine.begin() as writer:
                    await journal.grant(writer, workspace.id, 1, idempotency_key=f"grant:{uuid.uuid4().hex}")
            if cursor is None:
                break
        assert seen == sorted(seen, reverse=True) and len(set(seen)) == len(seen) == 1 + 12 + 12
        debits_only, _ = await finance_queries.entries(
            conn, workspace.id, EntryFilter(kind="debit", tag="t", model="openai/gpt-4.1-mini"), cursor=None, limit=50
        )
        assert len(debits_only) == 12 and all(e["balance_delta_tokens"] == -7 for e in debits_only)
        assert all({p["account"] for p in e["postings"]} == {"held", "spent", "available"} for e in debits_only)
        none_for_key, _ = await finance_queries.entries(
            conn, workspace.id, EntryFilter(api_key_id="another-key"), cursor=None, limit=50
        )
        assert none_for_key == []
        usage = await finance_queries.usage_by_day(conn, workspace.id, since=None, until=None)
    # Each job has two tags, so it counts under each: 12 jobs x 7 tokens per tag.
    assert {(row["tag"], row["jobs"], row["cost_tokens"]) for row in usage} == {
        ("t", 12, 84),
        ('quote"and\\slash', 12, 84),
    }


async def test_csv_cells_never_start_a_spreadsheet_formula(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=1_000)
    formula = '=HYPERLINK("x","y")'
    # The job is priced for the hostile model name, so its debit (a statement line) carries that name.
    plain = hold_request(workspace.id, 10)
    request = dataclasses.replace(plain, model_id=formula, terms={formula: plain.terms["openai/gpt-4.1-mini"]})
    hostile = debits.Usage(
        job_id=request.job_id,
        outcome="completed",
        model_id=formula,
        provider="p",
        input_tokens=5,
        output_tokens=0,
        answer="a",
        finish_reason="stop",
        error=None,
    )
    async with engine.begin() as conn:
        await holds.admit(conn, request)
        await debits.settle(conn, workspace.id, hostile)
    async with engine.connect() as conn:
        body = b"".join(
            [c async for c in finance_queries.statement_csv(conn, workspace.id, since=None, until=None)]
        ).decode()
    cells = [cell for row in csv.reader(io.StringIO(body)) for cell in row]
    assert '\'=HYPERLINK("x","y")' in cells, cells
    assert not any(cell.startswith("=") for cell in cells)
