"""Thresholds in PostgreSQL: alert thresholds and the auto top-up trigger, armed and disarmed once per crossing.

`evaluate` applies the pure rule (`finance_domain.cross`) to every threshold of a workspace for one balance
movement, under the workspace's account lock (the caller holds it), and stores the armed flags. The balance
is what the workspace owns: available + held (`balance_left`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.finance_domain import FinanceInputError, checked_paisa, checked_tokens, cross, percent_threshold_tokens
from ledger.payments import METHODS
from schemas.finance import BalanceThresholdCrossed

# A workspace may hold this many alert thresholds.
ALERT_THRESHOLDS_MAX = 20


@dataclass(frozen=True, slots=True)
class AutoTopupFired:
    workspace_id: str
    amount_paisa: int
    method: str
    firing: int


async def _last_topup_tokens(conn: AsyncConnection, workspace_id: str) -> int | None:
    return (
        await conn.execute(
            text(
                "SELECT tokens FROM topups WHERE workspace_id = :ws AND status = 'succeeded' "
                "ORDER BY updated_at DESC, id DESC LIMIT 1"
            ),
            {"ws": workspace_id},
        )
    ).scalar_one_or_none()


async def evaluate(
    conn: AsyncConnection, workspace_id: str, before: int, after: int
) -> tuple[list[BalanceThresholdCrossed], AutoTopupFired | None]:
    """Apply one balance movement to the workspace's thresholds; the crossings to report and any auto top-up."""
    if before == after:
        return [], None
    alerts = (
        await conn.execute(
            text(
                "SELECT id, kind, threshold_tokens, percent, armed FROM alert_thresholds WHERE workspace_id = :ws "
                "ORDER BY id FOR UPDATE"
            ),
            {"ws": workspace_id},
        )
    ).all()
    last_topup = await _last_topup_tokens(conn, workspace_id) if any(a.percent for a in alerts) else None
    events: list[BalanceThresholdCrossed] = []
    flips: list[tuple[int, bool]] = []
    for alert in alerts:
        threshold = alert.threshold_tokens
        if alert.kind == "percent_of_last_topup":
            threshold = percent_threshold_tokens(last_topup, alert.percent)
        if threshold is None:
            continue
        crossing = cross(before, after, threshold, alert.armed)
        if crossing.fired:
            events.append(_crossed(workspace_id, alert.id, alert.kind, threshold, before, after))
        if crossing.armed_after != alert.armed:
            flips.append((alert.id, crossing.armed_after))
    if flips:
        await conn.execute(
            text(
                "UPDATE alert_thresholds SET armed = f.armed FROM unnest(CAST(:ids AS bigint[]), "
                "CAST(:armed AS boolean[])) AS f(id, armed) WHERE alert_thresholds.id = f.id"
            ),
            {"ids": [f[0] for f in flips], "armed": [f[1] for f in flips]},
        )
    fired = await _evaluate_auto_topup(conn, workspace_id, before, after, events)
    return events, fired


async def _evaluate_auto_topup(
    conn: AsyncConnection, workspace_id: str, before: int, after: int, events: list[BalanceThresholdCrossed]
) -> AutoTopupFired | None:
    auto = (
        await conn.execute(
            text(
                "SELECT threshold_tokens, amount_paisa, method, armed, fired_count FROM auto_topups "
                "WHERE workspace_id = :ws AND enabled FOR UPDATE"
            ),
            {"ws": workspace_id},
        )
    ).first()
    if auto is None:
        return None
    crossing = cross(before, after, auto.threshold_tokens, auto.armed)
    if not crossing.fired and crossing.armed_after == auto.armed:
        return None
    await conn.execute(
        text(
            "UPDATE auto_topups SET armed = :armed, fired_count = fired_count + :fired, updated_at = now() "
            "WHERE workspace_id = :ws"
        ),
        {"armed": crossing.armed_after, "fired": int(crossing.fired), "ws": workspace_id},
    )
    if not crossing.fired:
        return None
    events.append(_crossed(workspace_id, None, "auto_topup", auto.threshold_tokens, before, after))
    return AutoTopupFired(workspace_id, auto.amount_paisa, auto.method, auto.fired_count + 1)


def _crossed(
    workspace_id: str, threshold_id: int | None, kind: str, threshold: int, before: int, after: int
) -> BalanceThresholdCrossed:
    return BalanceThresholdCrossed(
        workspace_id=workspace_id,
        job_id="",
        threshold_id=threshold_id,
        kind=kind,
        threshold_tokens=threshold,
        balance_before_tokens=before,
        balance_after_tokens=after,
    )


async def _workspace_exists(conn: AsyncConnection, workspace_id: str) -> None:
    found = (await conn.execute(text("SELECT 1 FROM workspaces WHERE id = :id"), {"id": workspace_id})).first()
    if found is None:
        raise FinanceInputError(f"no workspace {workspace_id!r}")


async def _balance(conn: AsyncConnection, workspace_id: str) -> int:
    return int(
        (
            await conn.execute(
                text(
                    "SELECT coalesce(sum(balance), 0) FROM ledger_accounts WHERE workspace_id = :ws "
                    "AND kind IN ('available', 'held')"
                ),
                {"ws": workspace_id},
            )
        ).scalar_one()
    )


async def set_auto_topup(
    conn: AsyncConnection, workspace_id: str, *, threshold_tokens: int, amount_paisa: int, method: str, enabled: bool
) -> None:
    """Configure the workspace's auto top-up; armed only when the balance is at or above the threshold now."""
    checked_tokens(threshold_tokens, what="threshold_tokens")
    checked_paisa(amount_paisa)
    if method not in METHODS:
        raise FinanceInputError(f"unknown payment method {method!r}; known: {', '.join(METHODS)}")
    await _workspace_exists(conn, workspace_id)
    armed = await _balance(conn, workspace_id) >= threshold_tokens
    await conn.execute(
        text(
            "INSERT INTO auto_topups (workspace_id, threshold_tokens, amount_paisa, method, enabled, armed) "
            "VALUES (:ws, :t, :a, :m, :e, :armed) ON CONFLICT (workspace_id) DO UPDATE SET "
            "threshold_tokens = :t, amount_paisa = :a, method = :m, enabled = :e, armed = :armed, updated_at = now()"
        ),
        {"ws": workspace_id, "t": threshold_tokens, "a": amount_paisa, "m": method, "e": enabled, "armed": armed},
    )


async def add_alert_threshold(
    conn: AsyncConnection,
    workspace_id: str,
    *,
    kind: Literal["absolute", "percent_of_last_topup"],
    threshold_tokens: int | None = None,
    percent: int | None = None,
) -> int:
    """Add an alert threshold (absolute tokens, or 1-100 percent of the last top-up); returns its id."""
    if kind == "absolute":
        checked_tokens(threshold_tokens, what="threshold_tokens")
        percent = None
    elif kind == "percent_of_last_topup":
        if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 100:
            raise FinanceInputError("percent must be an integer from 1 to 100")
        threshold_tokens = None
    else:
        raise FinanceInputError("kind must be 'absolute' or 'percent_of_last_topup'")
    await _workspace_exists(conn, workspace_id)
    count = (
        await conn.execute(text("SELECT count(*) FROM alert_thresholds WHERE workspace_id = :ws"), {"ws": workspace_id})
    ).scalar_one()
    if count >= ALERT_THRESHOLDS_MAX:
        raise FinanceInputError(f"a workspace holds at most {ALERT_THRESHOLDS_MAX} alert thresholds")
    return int(
        (
            await conn.execute(
                text(
                    "INSERT INTO alert_thresholds (workspace_id, kind, threshold_tokens, percent) "
                    "VALUES (:ws, :kind, :t, :p) RETURNING id"
                ),
                {"ws": workspace_id, "kind": kind, "t": threshold_tokens, "p": percent},
            )
        ).scalar_one()
    )


async def remove_alert_threshold(conn: AsyncConnection, workspace_id: str, threshold_id: int) -> bool:
    result = await conn.execute(
        text("DELETE FROM alert_thresholds WHERE id = :id AND workspace_id = :ws RETURNING id"),
        {"id": threshold_id, "ws": workspace_id},
    )
    return result.first() is not None
