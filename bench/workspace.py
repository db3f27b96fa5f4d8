"""The bench's own workspace (created with the ledger's journal functions) and the billing check.

Each bench run creates a fresh workspace ``bench-<utc timestamp>`` with ample credit and one API key,
so its jobs, journal and balances are the bench's alone. After every pipeline load the bench waits until
the ledger has settled every job of that workspace, then compares PostgreSQL with what wrk counted.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ingress.keys import create_key
from ledger import journal
from ledger.domain import AccountKind

# Enough for any bench run: a run bills ~30 tokens per request and holds ~520 per request in flight.
CREDIT_TOKENS = 10_000_000_000
QUIET_POLL_S = 0.1
# Settled when no job is queued and the job count has not moved for this long.
QUIET_STABLE_S = 0.5
QUIET_TIMEOUT_S = 90.0

_SNAPSHOT = text(
    """
    SELECT count(*) AS jobs,
           count(*) FILTER (WHERE status = 'completed') AS completed,
           count(*) FILTER (WHERE status = 'queued') AS queued,
           count(*) FILTER (WHERE status NOT IN ('completed', 'queued')) AS other,
           coalesce(sum(input_tokens + output_tokens) FILTER (WHERE status = 'completed'), 0) AS used_tokens,
           coalesce(sum(cost_tokens), 0) AS cost_tokens,
           coalesce(sum(uncharged_tokens), 0) AS uncharged_tokens
    FROM jobs WHERE workspace_id = :ws
    """
)
_BALANCES = text("SELECT kind, balance FROM ledger_accounts WHERE workspace_id = :ws")


@dataclass(frozen=True)
class Snapshot:
    """The workspace's jobs and balances at one moment."""

    jobs: int
    completed: int
    queued: int
    other: int
    used_tokens: int
    cost_tokens: int
    uncharged_tokens: int
    spent: int
    held: int


@dataclass(frozen=True)
class BenchWorkspace:
    workspace_id: str
    api_key: str


class BillingProbe:
    """Creates the bench workspace and reads its jobs and balances from PostgreSQL."""

    def __init__(self, database_url: str) -> None:
        self._engine: AsyncEngine = create_async_engine(database_url, pool_size=2)

    async def close(self) -> None:
        await self._engine.dispose()

    async def create(self, credit_tokens: int = CREDIT_TOKENS) -> BenchWorkspace:
        workspace_id = f"bench-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
        async with self._engine.begin() as conn:
            await journal.create_workspace(conn, workspace_id, name="Benchmark workspace")
            await journal.grant(
                conn,
                workspace_id,
                credit_tokens,
                idempotency_key=f"grant:bench:{workspace_id}",
                detail={"reason": "python -m bench"},
            )
            _key_id, secret = await create_key(conn, workspace_id, name="bench key")
        return BenchWorkspace(workspace_id=workspace_id, api_key=secret)

    async def snapshot(self, workspace_id: str) -> Snapshot:
        async with self._engine.connect() as conn:
            row = (await conn.execute(_SNAPSHOT, {"ws": workspace_id})).one()
            balances = {acct.kind: acct.balance for acct in (await conn.execute(_BALANCES, {"ws": workspace_id})).all()}
        return Snapshot(
            jobs=row.jobs,
            completed=row.completed,
            queued=row.queued,
            other=row.other,
            used_tokens=int(row.used_tokens),
            cost_tokens=int(row.cost_tokens),
            uncharged_tokens=int(row.uncharged_tokens),
            spent=int(balances.get(AccountKind.SPENT.value, 0)),
            held=int(balances.get(AccountKind.HELD.value, 0)),
        )

    async def settle(self, workspace_id: str, timeout_s: float = QUIET_TIMEOUT_S) -> Snapshot:
        """Wait until nothing of the workspace is in flight: no queued job and a job count that holds still."""
        deadline = time.monotonic() + timeout_s
        last = await self.snapshot(workspace_id)
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(QUIET_POLL_S)
            current = await self.snapshot(workspace_id)
            if current.jobs != last.jobs or current.queued:
                stable_since = time.monotonic()
            elif time.monotonic() - stable_since >= QUIET_STABLE_S:
                return current
            last = current
        return last


def run_check(before: Snapshot, after: Snapshot, ok_responses: int, connections: int) -> dict[str, Any]:
    """One pipeline load: jobs completed in PostgreSQL against the 200s wrk counted.

    wrk stops at its deadline with up to ``connections`` requests in flight; the pipeline still finishes
    (and bills) them, so billed may exceed the 200s by at most that many.
    """
    billed = after.completed - before.completed
    spent = after.spent - before.spent
    used = after.used_tokens - before.used_tokens
    return {
        "billed_requests": billed,
        "ok_responses": ok_responses,
        "billed_minus_ok": billed - ok_responses,
        "in_flight_allowance": connections,
        "other_terminal_jobs": after.other - before.other,
        "spent_tokens": spent,
        "used_tokens": used,
        "billing_exact": 0 <= billed - ok_responses <= connections and spent == used and after.queued == 0,
    }


def final_check(
    snapshot: Snapshot, ok_responses: int, in_flight_allowance: int, runs: list[dict[str, Any]]
) -> dict[str, Any]:
    """The whole workspace after the bench (warm-ups included): every balance and job sum agrees to the token."""
    billed_minus_ok = snapshot.completed - ok_responses
    return {
        "billed_requests": sum(run["billed_requests"] for run in runs),
        "workspace_completed_jobs": snapshot.completed,
        "workspace_queued_jobs": snapshot.queued,
        "workspace_other_terminal_jobs": snapshot.other,
        "ok_responses_counted_by_wrk": ok_responses,
        "billed_minus_ok": billed_minus_ok,
        "in_flight_allowance": in_flight_allowance,
        "spent_tokens": snapshot.spent,
        "sum_input_plus_output_tokens": snapshot.used_tokens,
        "sum_cost_tokens": snapshot.cost_tokens,
        "uncharged_tokens": snapshot.uncharged_tokens,
        "held_tokens": snapshot.held,
        "billing_exact": (
            0 <= billed_minus_ok <= in_flight_allowance
            and snapshot.spent == snapshot.used_tokens == snapshot.cost_tokens
            and snapshot.held == 0
            and snapshot.queued == 0
            and all(run["billing_exact"] for run in runs)
        ),
    }
