"""Exchange-rate versions: the platform default and per-workspace overrides, each effective from a time.

A version is never edited (the table refuses updates) and never takes effect in the past. The rate in force
for a workspace is its newest override already effective, else the newest platform version already effective.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.finance_domain import FinanceInputError, checked_reason, fraction_text


@dataclass(frozen=True, slots=True)
class RateVersion:
    id: int
    workspace_id: str | None
    tokens_per_bdt: Fraction
    effective_at: datetime

    def as_json(self) -> dict[str, object]:
        return {
            "version_id": self.id,
            "scope": "workspace" if self.workspace_id else "platform",
            "tokens_per_bdt": fraction_text(self.tokens_per_bdt),
            "effective_at": self.effective_at.isoformat(),
        }


_IN_FORCE = text(
    "SELECT id, workspace_id, tokens_per_bdt_num AS num, tokens_per_bdt_den AS den, effective_at "
    "FROM exchange_rates WHERE (workspace_id = :ws OR workspace_id IS NULL) "
    "AND effective_at <= coalesce(CAST(:at AS timestamptz), now()) "
    "ORDER BY workspace_id IS NULL, effective_at DESC LIMIT 1"
)


async def rate_in_force(conn: AsyncConnection, workspace_id: str, at: datetime | None = None) -> RateVersion:
    row = (await conn.execute(_IN_FORCE, {"ws": workspace_id, "at": at})).one()
    return RateVersion(row.id, row.workspace_id, Fraction(row.num, row.den), row.effective_at)


async def not_in_the_past(conn: AsyncConnection, effective_at: datetime | None) -> datetime:
    """The effective time to publish at: now when none is given; a time already past is refused."""
    now: datetime = (await conn.execute(text("SELECT now()"))).scalar_one()
    if effective_at is None:
        return now
    if effective_at.tzinfo is None:
        raise FinanceInputError("effective_at must carry a time zone (such as 2030-01-01T00:00:00Z)")
    if effective_at < now:
        raise FinanceInputError(
            f"effective_at {effective_at.isoformat()} is in the past; versions only take effect ahead"
        )
    return effective_at


async def publish_rate(
    conn: AsyncConnection,
    *,
    workspace_id: str | None,
    tokens_per_bdt: Fraction,
    effective_at: datetime | None,
    reason: str,
) -> RateVersion:
    """Publish a new version (an admin operation): the platform default when workspace_id is None."""
    checked_reason(reason)
    assert tokens_per_bdt > 0
    when = await not_in_the_past(conn, effective_at)
    if workspace_id is not None:
        exists = (await conn.execute(text("SELECT 1 FROM workspaces WHERE id = :id"), {"id": workspace_id})).first()
        if exists is None:
            raise FinanceInputError(f"no workspace {workspace_id!r}")
    row = (
        await conn.execute(
            text(
                "INSERT INTO exchange_rates (workspace_id, tokens_per_bdt_num, tokens_per_bdt_den, effective_at, "
                "source, reason) VALUES (:ws, :num, :den, :at, 'admin', :reason) "
                "ON CONFLICT (workspace_id, effective_at) DO NOTHING RETURNING id"
            ),
            {
                "ws": workspace_id,
                "num": tokens_per_bdt.numerator,
                "den": tokens_per_bdt.denominator,
                "at": when,
                "reason": reason,
            },
        )
    ).first()
    if row is None:
        raise FinanceInputError(f"a rate version effective at {when.isoformat()} already exists for this scope")
    return RateVersion(row.id, workspace_id, tokens_per_bdt, when)
