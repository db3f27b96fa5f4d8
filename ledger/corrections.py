"""Refunds and adjustments: corrections are new balanced entries with a reason, never edits of past ones.

Both are admin operations (the transport checks the admin credential); the actor is recorded on the entry.
- refund: reverses a completed job's debit in full (spent -> available), once per job.
- adjustment: credits (adjustment -> available) or debits (available -> adjustment) a workspace, idempotent
  by key; a debit never takes the available balance below its floor.
Both move the balance, so thresholds are evaluated as for any other movement.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import crossings, journal, topups
from ledger.finance_domain import (
    FinanceInputError,
    checked_reason,
    checked_tokens,
    credit_postings,
    debit_postings,
)
from ledger.topups import Finance
from schemas.finance import FinanceEvent


class CorrectionConflict(FinanceInputError):
    """A correction's idempotency key was used before for another amount (a 409, as for a top-up's key)."""


# The entry detail's field holding the balance a correction left.
BALANCE_AFTER = "balance_tokens_after"


@dataclass(frozen=True, slots=True)
class Correction:
    idempotency_key: str
    tokens: int
    balance_tokens: int
    replayed: bool
    events: list[FinanceEvent]


async def refund_job(
    conn: AsyncConnection, workspace_id: str, job_id: str, *, reason: str, actor: str, finance: Finance | None = None
) -> Correction:
    """Reverse a completed job's charge in full; a second refund of the same job changes nothing."""
    checked_reason(reason)
    balances = await journal.lock_accounts(conn, {workspace_id})
    job = (
        await conn.execute(
            text(
                "SELECT status, cost_tokens, coalesce(answered_by, model_id) AS model, api_key_id, tags FROM jobs "
                "WHERE id = :id AND workspace_id = :ws"
            ),
            {"id": job_id, "ws": workspace_id},
        )
    ).first()
    if job is None or workspace_id not in balances:
        raise FinanceInputError(f"no job {job_id!r} in workspace {workspace_id!r}")
    if job.status != "completed" or job.cost_tokens <= 0:
        raise FinanceInputError(f"job {job_id} charged nothing (status {job.status}): there is nothing to refund")
    entry = journal.Entry(
        f"refund:{job_id}",
        "refund",
        workspace_id,
        job_id,
        credit_postings(workspace_id, job.cost_tokens, source="spent"),
        {"reason": reason, "actor": actor, "model": job.model, "api_key_id": job.api_key_id, "tags": list(job.tags)},
    )
    return await _record(conn, finance, balances[workspace_id], entry, job.cost_tokens)


async def adjust(
    conn: AsyncConnection,
    workspace_id: str,
    tokens: int,
    *,
    reason: str,
    actor: str,
    idempotency_key: str,
    finance: Finance | None = None,
) -> Correction:
    """Credit (tokens > 0) or debit (tokens < 0) a workspace with a reason; idempotent by key."""
    checked_tokens(tokens, what="tokens", allow_negative=True, allow_zero=False)
    checked_reason(reason)
    if not 0 < len(idempotency_key) <= 255 or not idempotency_key.isprintable():
        raise FinanceInputError("the idempotency key must be 1-255 printable characters")
    balances = await journal.lock_accounts(conn, {workspace_id})
    if workspace_id not in balances:
        raise FinanceInputError(f"no workspace {workspace_id!r}")
    balance = balances[workspace_id]
    key = f"adjustment:{workspace_id}:{idempotency_key}"
    if tokens < 0 and balance.available + tokens < balance.available_floor and not await _exists(conn, key):
        raise FinanceInputError(
            f"a debit of {-tokens} tokens would take the available balance ({balance.available}) below its floor"
        )
    postings = (
        credit_postings(workspace_id, tokens, source="adjustment")
        if tokens > 0
        else debit_postings(workspace_id, -tokens, sink="adjustment")
    )
    await topups.open_finance_account(conn, workspace_id, "adjustment")
    entry = journal.Entry(key, "adjustment", workspace_id, None, postings, {"reason": reason, "actor": actor})
    return await _record(conn, finance, balance, entry, tokens)


async def _exists(conn: AsyncConnection, key: str) -> bool:
    found = await conn.execute(text("SELECT 1 FROM journal_transactions WHERE idempotency_key = :k"), {"k": key})
    return found.first() is not None


async def _record(
    conn: AsyncConnection, finance: Finance | None, balance: journal.Balances, entry: journal.Entry, tokens: int
) -> Correction:
    before = balance.balance_left
    # The balance this correction leaves, kept in its entry: a replay answers it, as the first call did, whatever
    # moved the balance since (a replay is the same answer again, not a balance enquiry).
    entry = replace(entry, detail={**(entry.detail or {}), BALANCE_AFTER: before + tokens})
    if await journal.record_entries(conn, [entry]) == 0:
        # A replay moves nothing and answers what the first one moved, as a replayed top-up answers that top-up;
        # the same key for another amount is refused, as it is for a top-up.
        recorded = await journal.credited(conn, entry.idempotency_key, entry.workspace_id)
        assert recorded is not None, f"entry {entry.idempotency_key} is neither new nor in the journal"
        if recorded != tokens:
            raise CorrectionConflict(
                f"this idempotency key was used for another {entry.kind} ({recorded} tokens, not {tokens})"
            )
        first_after = await _balance_after(conn, entry.idempotency_key)
        answered = first_after if first_after is not None else before
        return Correction(entry.idempotency_key, recorded, answered, replayed=True, events=[])
    balance.available += tokens
    events = await crossings.apply_crossings(conn, entry.workspace_id, before, balance.balance_left, finance)
    return Correction(entry.idempotency_key, tokens, balance.balance_left, replayed=False, events=events)


async def _balance_after(conn: AsyncConnection, key: str) -> int | None:
    """The balance a recorded correction left (None: recorded before corrections kept it)."""
    found = await conn.execute(
        text("SELECT detail ->> :field FROM journal_transactions WHERE idempotency_key = :key"),
        {"field": BALANCE_AFTER, "key": key},
    )
    value = found.scalar_one_or_none()
    return None if value is None else int(value)
