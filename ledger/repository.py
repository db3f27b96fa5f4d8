"""The ledger's writes to PostgreSQL: workspaces, grants, holds and settlements, each one transaction.

Every money movement goes through `_record_entry`, which inserts the journal transaction (unique by its
idempotency key), its postings and the balance changes in one statement: a replayed entry inserts nothing
and moves nothing. Each transaction first locks the workspace's four accounts in id order, so admission and
settlement of one workspace serialise without deadlocks, even if two consumers briefly overlap in a rebalance.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import domain
from ledger.domain import AccountKind, Posting


@dataclass(frozen=True, slots=True)
class Balances:
    available: int
    held: int
    spent: int
    funding: int
    available_floor: int

    @property
    def balance_left(self) -> int:
        """What the workspace still owns: available credit plus credit held for running jobs."""
        return self.available + self.held


@dataclass(frozen=True, slots=True)
class Admission:
    job_id: str
    admitted: bool
    hold_tokens: int
    balance_left: int
    replayed: bool
    # The job's state now: a replay of a job that already finished must not be dispatched again.
    status: str = "queued"


@dataclass(frozen=True, slots=True)
class SettledJob:
    job_id: str
    workspace_id: str
    status: str
    model_id: str
    provider: str | None
    input_tokens: int
    output_tokens: int
    cost_tokens: int
    balance_left: int
    answer: str | None
    finish_reason: str | None
    error: dict[str, Any] | None
    replayed: bool


_LOCK_ACCOUNTS = text(
    "SELECT kind, balance, floor FROM ledger_accounts WHERE workspace_id = :ws ORDER BY id FOR UPDATE"
)

_RECORD_ENTRY = text(
    """
    WITH txn AS (
        INSERT INTO journal_transactions (idempotency_key, kind, workspace_id, job_id, detail)
        VALUES (:key, :kind, :ws, :job, CAST(:detail AS jsonb))
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id
    ), legs AS (
        INSERT INTO postings (transaction_id, account_id, amount)
        SELECT txn.id, leg.account_id, leg.amount
        FROM txn, unnest(CAST(:accounts AS text[]), CAST(:amounts AS bigint[])) AS leg(account_id, amount)
        RETURNING account_id, amount
    )
    UPDATE ledger_accounts AS account SET balance = account.balance + legs.amount
    FROM legs WHERE account.id = legs.account_id
    RETURNING account.id
    """
)


async def create_workspace(
    conn: AsyncConnection,
    workspace_id: str,
    *,
    name: str,
    credit_line_tokens: int = 0,
    tokens_per_bdt: int = 500,
    default_model: str | None = None,
) -> None:
    """Create a workspace and its four accounts; creating an existing one changes nothing."""
    await conn.execute(
        text(
            "INSERT INTO workspaces (id, name, credit_line_tokens, tokens_per_bdt, default_model) "
            "VALUES (:id, :name, :credit, :rate, :model) ON CONFLICT (id) DO NOTHING"
        ),
        {"id": workspace_id, "name": name, "credit": credit_line_tokens, "rate": tokens_per_bdt,
         "model": default_model},
    )
    floors: dict[AccountKind, int | None] = {
        AccountKind.AVAILABLE: -credit_line_tokens,
        AccountKind.HELD: 0,
        AccountKind.SPENT: 0,
        AccountKind.FUNDING: None,
    }
    for kind, floor in floors.items():
        await conn.execute(
            text(
                "INSERT INTO ledger_accounts (id, workspace_id, kind, floor) VALUES (:id, :ws, :kind, :floor) "
                "ON CONFLICT (id) DO NOTHING"
            ),
            {"id": domain.account_id(workspace_id, kind), "ws": workspace_id, "kind": kind.value, "floor": floor},
        )


async def lock_workspaces(conn: AsyncConnection, workspace_ids: set[str]) -> None:
    """Lock every account of these workspaces in one global order, before a batch touches any of them, so
    two batches (admission and settlement run side by side) can never wait on each other in a cycle."""
    await conn.execute(
        text("SELECT id FROM ledger_accounts WHERE workspace_id = ANY(:ids) ORDER BY id FOR UPDATE"),
        {"ids": sorted(workspace_ids)},
    )


async def lock_balances(conn: AsyncConnection, workspace_id: str) -> Balances | None:
    rows = (await conn.execute(_LOCK_ACCOUNTS, {"ws": workspace_id})).all()
    if not rows:
        return None
    by_kind = {row.kind: row for row in rows}
    available = by_kind[AccountKind.AVAILABLE]
    return Balances(
        available=available.balance,
        held=by_kind[AccountKind.HELD].balance,
        spent=by_kind[AccountKind.SPENT].balance,
        funding=by_kind[AccountKind.FUNDING].balance,
        available_floor=available.floor,
    )


async def _record_entry(
    conn: AsyncConnection,
    *,
    idempotency_key: str,
    kind: str,
    workspace_id: str,
    job_id: str | None,
    postings: list[Posting],
    detail: dict[str, Any] | None = None,
) -> bool:
    """Insert one balanced journal transaction; False when its key was already recorded."""
    assert domain.is_balanced(postings), f"unbalanced entry {idempotency_key}: {postings}"
    assert len({p.account_id for p in postings}) == len(postings), "one leg per account per entry"
    result = await conn.execute(
        _RECORD_ENTRY,
        {
            "key": idempotency_key,
            "kind": kind,
            "ws": workspace_id,
            "job": job_id,
            "detail": json.dumps(detail) if detail is not None else None,
            "accounts": [p.account_id for p in postings],
            "amounts": [p.amount for p in postings],
        },
    )
    moved = len(result.all())
    assert moved in (0, len(postings)), f"entry {idempotency_key} moved {moved} of {len(postings)} accounts"
    return moved > 0


async def grant(
    conn: AsyncConnection, workspace_id: str, tokens: int, *, idempotency_key: str, kind: str = "grant",
    detail: dict[str, Any] | None = None,
) -> bool:
    """Credit a workspace from its funding account (a grant or a top-up); idempotent by key."""
    await lock_balances(conn, workspace_id)
    return await _record_entry(
        conn, idempotency_key=idempotency_key, kind=kind, workspace_id=workspace_id, job_id=None,
        postings=domain.grant_postings(workspace_id, tokens), detail=detail,
    )


async def admit(
    conn: AsyncConnection,
    *,
    job_id: str,
    workspace_id: str,
    api_key_id: str,
    model_id: str,
    hold: int,
    tags: tuple[str, ...],
) -> Admission:
    """Hold credit for a job, or refuse it; a replayed admission returns the first decision."""
    inserted = await conn.execute(
        text(
            "INSERT INTO jobs (id, workspace_id, api_key_id, model_id, status, hold_tokens, tags) "
            "SELECT :id, :ws, :key, :model, 'queued', :hold, :tags WHERE EXISTS "
            "(SELECT 1 FROM workspaces WHERE id = :ws) ON CONFLICT (id) DO NOTHING RETURNING id"
        ),
        {"id": job_id, "ws": workspace_id, "key": api_key_id, "model": model_id, "hold": hold, "tags": list(tags)},
    )
    if inserted.first() is None:
        return await _previous_admission(conn, job_id)
    balances = await lock_balances(conn, workspace_id)
    assert balances is not None, f"workspace {workspace_id} has no ledger accounts"
    if balances.available - hold < balances.available_floor:
        await conn.execute(
            text(
                "UPDATE jobs SET status = 'rejected', hold_tokens = 0, balance_left = :left, finished_at = now(), "
                "error = CAST(:error AS jsonb) WHERE id = :id"
            ),
            {"id": job_id, "left": balances.balance_left,
             "error": json.dumps({"code": "insufficient_credits", "message": "Insufficient credits"})},
        )
        return Admission(job_id, admitted=False, hold_tokens=0, balance_left=balances.balance_left, replayed=False,
                         status="rejected")
    await _record_entry(
        conn, idempotency_key=f"hold:{job_id}", kind="hold", workspace_id=workspace_id, job_id=job_id,
        postings=domain.hold_postings(workspace_id, hold), detail={"model": model_id, "tags": list(tags)},
    )
    return Admission(job_id, admitted=True, hold_tokens=hold, balance_left=balances.balance_left, replayed=False)


async def _previous_admission(conn: AsyncConnection, job_id: str) -> Admission:
    row = (
        await conn.execute(
            text("SELECT status, hold_tokens, balance_left, workspace_id FROM jobs WHERE id = :id"), {"id": job_id}
        )
    ).first()
    if row is None:
        # The workspace does not exist: nothing was inserted and nothing can be held.
        return Admission(job_id, admitted=False, hold_tokens=0, balance_left=0, replayed=False, status="rejected")
    return Admission(
        job_id,
        admitted=row.status != "rejected",
        hold_tokens=row.hold_tokens,
        balance_left=row.balance_left if row.balance_left is not None else 0,
        replayed=True,
        status=row.status,
    )


@dataclass(frozen=True, slots=True)
class Usage:
    """What a worker reported, priced by the ledger."""

    job_id: str
    completed: bool
    model_id: str | None
    provider: str | None
    input_tokens: int
    output_tokens: int
    priced_cost: int
    answer: str | None
    finish_reason: str | None
    error: dict[str, Any] | None


async def settle(conn: AsyncConnection, usage: Usage) -> SettledJob | None:
    """Debit a finished job and release its hold, once; None if the job was never admitted."""
    job = (
        await conn.execute(text("SELECT * FROM jobs WHERE id = :id FOR UPDATE"), {"id": usage.job_id})
    ).first()
    if job is None:
        return None
    if job.status != "queued":
        return _settled_from_row(job._mapping, replayed=True)
    balances = await lock_balances(conn, job.workspace_id)
    assert balances is not None
    amounts = domain.settle_amounts(job.hold_tokens, usage.priced_cost if usage.completed else 0)
    if job.hold_tokens > 0:
        await _record_entry(
            conn, idempotency_key=f"settle:{usage.job_id}", kind="debit" if usage.completed else "release",
            workspace_id=job.workspace_id, job_id=usage.job_id,
            postings=domain.settle_postings(job.workspace_id, job.hold_tokens, amounts.cost_tokens),
            detail={"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
                    "model": usage.model_id, "tags": list(job.tags), "api_key_id": job.api_key_id},
        )
    balance_left = balances.balance_left - amounts.cost_tokens
    updated = (
        await conn.execute(
            text(
                "UPDATE jobs SET status = :status, input_tokens = :tin, output_tokens = :tout, cost_tokens = :cost, "
                "uncharged_tokens = :uncharged, balance_left = :left, answered_by = :model, provider = :provider, "
                "finish_reason = :finish, answer = :answer, error = CAST(:error AS jsonb), finished_at = now() "
                "WHERE id = :id RETURNING *"
            ),
            {
                "id": usage.job_id,
                "status": "completed" if usage.completed else "failed",
                "tin": usage.input_tokens,
                "tout": usage.output_tokens,
                "cost": amounts.cost_tokens,
                "uncharged": amounts.uncharged_tokens,
                "left": balance_left,
                "model": usage.model_id,
                "provider": usage.provider,
                "finish": usage.finish_reason,
                "answer": usage.answer,
                "error": json.dumps(usage.error) if usage.error is not None else None,
            },
        )
    ).one()
    return _settled_from_row(updated._mapping, replayed=False)


def _settled_from_row(row: Any, *, replayed: bool) -> SettledJob:
    return SettledJob(
        job_id=row["id"],
        workspace_id=row["workspace_id"],
        status=row["status"],
        model_id=row["answered_by"] or row["model_id"],
        provider=row["provider"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        cost_tokens=row["cost_tokens"],
        balance_left=row["balance_left"] if row["balance_left"] is not None else 0,
        answer=row["answer"],
        finish_reason=row["finish_reason"],
        error=row["error"],
        replayed=replayed,
    )
