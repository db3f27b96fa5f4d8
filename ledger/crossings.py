"""Balance crossings inside the transaction that moved the balance: alerts and auto top-ups, once per crossing.

Settlement calls `after_settlement` (or `apply_crossings` with a workspace's balance before and after) in its
own transaction, after its entries are written and while it still holds the accounts' locks. So whichever
order racing settlements commit in, each sees the balance the previous one left, and a crossing fires once.
The auto top-up it triggers is written in the same transaction: a crash loses both or neither, and a
redelivered usage event settles nothing new and so crosses nothing. The events returned are already in the
outbox; publish them after commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import finance_events, thresholds, topups
from ledger.topups import Finance
from schemas.finance import FinanceEvent


class Settled(Protocol):
    """What `after_settlement` reads of a settled job (debits.SettledJob has these)."""

    @property
    def workspace_id(self) -> str: ...
    @property
    def cost_tokens(self) -> int: ...
    @property
    def balance_left(self) -> int: ...
    @property
    def replayed(self) -> bool: ...
    @property
    def crossings_watched(self) -> bool: ...


async def apply_crossings(
    conn: AsyncConnection, workspace_id: str, balance_before: int, balance_after: int, finance: Finance | None = None
) -> list[FinanceEvent]:
    """Fire the thresholds this movement crosses (once each), run a triggered auto top-up; the events to publish."""
    crossed, fired = await thresholds.evaluate(conn, workspace_id, balance_before, balance_after)
    events: list[FinanceEvent] = list(crossed)
    await finance_events.record(conn, events)
    if fired is not None:
        outcome = await topups.request_topup(
            conn,
            finance or Finance(),
            workspace_id=workspace_id,
            amount_paisa=fired.amount_paisa,
            method=fired.method,
            idempotency_key=f"auto:{fired.firing}",
            origin="auto",
        )
        events += outcome.events
    return events


async def after_settlement(
    conn: AsyncConnection, settled: Sequence[Settled | None], finance: Finance | None = None
) -> list[FinanceEvent]:
    """`apply_crossings` for every workspace a settlement batch moved; replays moved nothing and are skipped."""
    moved: dict[str, tuple[int, int]] = {}
    for job in settled:
        # Most workspaces have no thresholds and no auto top-up (the accounts' lock read which do): settlement
        # pays nothing for them.
        if job is None or job.replayed or not job.crossings_watched:
            continue
        spent, _ = moved.get(job.workspace_id, (0, 0))
        moved[job.workspace_id] = (spent + job.cost_tokens, job.balance_left)
    events: list[FinanceEvent] = []
    for workspace_id in sorted(moved):
        spent, after = moved[workspace_id]
        if spent == 0:
            continue
        events += await apply_crossings(conn, workspace_id, after + spent, after, finance)
    return events
