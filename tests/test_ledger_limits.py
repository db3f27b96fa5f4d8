"""Admission limits in the ledger on their own: RPM/TPM per key and per workspace, spend caps per key, under races.

Each admission runs in its own transaction, as concurrent ledger batches (or two owners during a rebalance)
would; the clock is passed in, so every race here happens inside one window.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import debits, domain, holds
from tests.conftest import Workspace, make_workspace
from tests.ledger_checks import assert_books_balance, balances

UNIT_TERMS = {
    "openai/gpt-4.1-mini": domain.Terms(domain.Price(Fraction(1), Fraction(1), Fraction(1)), 1_047_576, 32_768)
}
# 20 s into a minute: the window ends 40 s later.
NOW = datetime.now(UTC).replace(second=20, microsecond=0)


def request(workspace: Workspace, hold: int, tokens: int) -> holds.HoldRequest:
    return holds.HoldRequest(
        job_id=f"job_{uuid.uuid4().hex}",
        workspace_id=workspace.id,
        api_key_id=workspace.key_id,
        model_id="openai/gpt-4.1-mini",
        hold=hold,
        tags=(),
        terms=UNIT_TERMS,
        tokens=tokens,
    )


async def admit(engine: AsyncEngine, job: holds.HoldRequest, now: datetime = NOW) -> holds.Admission:
    async with engine.begin() as conn:
        return await holds.admit(conn, job, now=now)


async def limit(engine: AsyncEngine, table: str, row_id: str, **limits: int) -> None:
    sets = ", ".join(f"{column} = :{column}" for column in limits)
    async with engine.begin() as conn:
        await conn.execute(text(f"UPDATE {table} SET {sets} WHERE id = :id"), {"id": row_id, **limits})


async def race(engine: AsyncEngine, jobs: list[holds.HoldRequest]) -> list[holds.Admission]:
    return await asyncio.gather(*(admit(engine, job) for job in jobs))


async def test_racing_requests_never_pass_a_keys_rpm_and_the_rest_wait_for_the_window(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    await limit(engine, "api_keys", workspace.key_id, rpm_max=5)
    results = await race(engine, [request(workspace, 10, 20) for _ in range(15)])
    admitted = [r for r in results if r.admitted]
    refused = [r for r in results if not r.admitted]
    assert len(admitted) == 5
    assert {r.error["code"] for r in refused if r.error} == {"rate_limit_exceeded"}
    assert {r.error["retry_after_s"] for r in refused if r.error} == {40}
    # Nothing held for the refused: exactly five holds of 10.
    assert await balances(engine, workspace.id) == {"available": 99_950, "held": 50, "spent": 0, "funding": -100_000}
    # The next minute is a new window.
    assert (await admit(engine, request(workspace, 10, 20), NOW + timedelta(seconds=40))).admitted
    await assert_books_balance(engine)


async def test_a_workspaces_tpm_counts_every_key_and_each_jobs_token_bound(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    await limit(engine, "workspaces", workspace.id, tpm_max=1_000)
    results = await race(engine, [request(workspace, 1, 300) for _ in range(8)])
    assert sum(r.admitted for r in results) == 3
    # One more fits 100 tokens exactly; a request larger than the whole limit can never pass, so it is a 400.
    assert (await admit(engine, request(workspace, 1, 100))).admitted
    too_big = await admit(engine, request(workspace, 1, 1_001))
    assert not too_big.admitted and too_big.error is not None and too_big.error["code"] == "invalid_request"
    async with engine.connect() as conn:
        window = (
            await conn.execute(
                text("SELECT requests, tokens FROM rate_windows WHERE subject = :s"), {"s": f"workspace:{workspace.id}"}
            )
        ).one()
    assert (window.requests, window.tokens) == (4, 1_000)
    await assert_books_balance(engine)


async def test_racing_holds_never_overshoot_a_daily_spend_cap_and_settled_cost_replaces_the_hold(
    engine: AsyncEngine,
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    await limit(engine, "api_keys", workspace.key_id, daily_spend_max_tokens=1_000)
    jobs = [request(workspace, 300, 1) for _ in range(10)]
    results = await race(engine, jobs)
    admitted = [job for job, r in zip(jobs, results, strict=True) if r.admitted]
    assert len(admitted) == 3
    refused = [r for r in results if not r.admitted]
    assert {r.error["code"] for r in refused if r.error} == {"spend_cap_reached"}
    assert all("daily spend cap of 1000" in r.error["message"] for r in refused if r.error)
    # One job costs 100 of its 300: 700 spent or held, so one more hold of 300 fits exactly, then nothing.
    usage = debits.Usage(
        job_id=admitted[0].job_id,
        outcome="completed",
        model_id="openai/gpt-4.1-mini",
        provider="openai",
        input_tokens=100,
        output_tokens=0,
        answer="a",
        finish_reason="stop",
        error=None,
    )
    async with engine.begin() as conn:
        await debits.settle(conn, workspace.id, usage)
    assert (await admit(engine, request(workspace, 300, 1))).admitted
    assert not (await admit(engine, request(workspace, 1, 1))).admitted
    assert (await balances(engine, workspace.id))["spent"] == 100
    await assert_books_balance(engine)


async def test_a_monthly_cap_counts_across_days_and_holds(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    await limit(engine, "api_keys", workspace.key_id, daily_spend_max_tokens=900, monthly_spend_max_tokens=500)
    results = await race(engine, [request(workspace, 200, 1) for _ in range(6)])
    assert sum(r.admitted for r in results) == 2
    messages = {r.error["message"] for r in results if r.error}
    assert all("monthly spend cap of 500" in m for m in messages)
    await assert_books_balance(engine)


async def test_a_key_without_limits_is_not_counted(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    results = await race(engine, [request(workspace, 1, 1_000_000) for _ in range(20)])
    assert all(r.admitted for r in results)
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT count(*) FROM rate_windows WHERE subject IN (:k, :w)"),
            {"k": f"key:{workspace.key_id}", "w": f"workspace:{workspace.id}"},
        )
        assert rows.scalar_one() == 0
