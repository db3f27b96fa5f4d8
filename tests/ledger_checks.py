"""Double-entry checks over the whole book, run after every ledger test."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def assert_books_balance(engine: AsyncEngine) -> None:
    """Every transaction sums to zero, every balance equals its postings, no account is under its floor."""
    async with engine.connect() as conn:
        total = (await conn.execute(text("SELECT coalesce(sum(amount), 0) FROM postings"))).scalar_one()
        unbalanced = (
            await conn.execute(
                text("SELECT transaction_id FROM postings GROUP BY transaction_id HAVING sum(amount) <> 0")
            )
        ).all()
        drifted = (
            await conn.execute(
                text(
                    "SELECT a.id, a.balance, coalesce(sum(p.amount), 0) AS posted FROM ledger_accounts a "
                    "LEFT JOIN postings p ON p.account_id = a.id GROUP BY a.id, a.balance "
                    "HAVING a.balance <> coalesce(sum(p.amount), 0)"
                )
            )
        ).all()
        overdrawn = (
            await conn.execute(text("SELECT id FROM ledger_accounts WHERE floor IS NOT NULL AND balance < floor"))
        ).all()
    assert total == 0, f"postings sum to {total}, not zero"
    assert not unbalanced, f"unbalanced transactions: {unbalanced}"
    assert not drifted, f"balances differ from their postings: {drifted}"
    assert not overdrawn, f"accounts below their floor: {overdrawn}"


async def balances(engine: AsyncEngine, workspace_id: str) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT kind, balance FROM ledger_accounts WHERE workspace_id = :ws"), {"ws": workspace_id}
            )
        ).all()
    return {row.kind: row.balance for row in rows}


async def entries_for(engine: AsyncEngine, job_id: str) -> list[str]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT kind FROM journal_transactions WHERE job_id = :job ORDER BY id"), {"job": job_id}
            )
        ).all()
    return [row.kind for row in rows]
