"""Verifies the whole book, read-only: every rule the journal and jobs must obey, with the rows that break it.

Run after end-to-end tests and by `luntrex ledger verify`. All checks run in one read-only, repeatable-read
transaction, so they see one snapshot even while the ledger is writing. A job still `queued` may hold credit
(it is in flight); every other state must have settled its hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# Rows reported per rule at most: a broken book can have millions, and the first ones say what is wrong.
ROWS_PER_RULE_MAX = 100

# Rules over the journal and the accounts, each a query of its offending rows.
BOOK_RULES: dict[str, str] = {
    "unbalanced_transaction": (
        "SELECT transaction_id, sum(amount) AS total FROM postings GROUP BY transaction_id "
        "HAVING sum(amount) <> 0 ORDER BY transaction_id LIMIT :limit"
    ),
    "empty_transaction": (
        "SELECT t.id AS transaction_id, t.idempotency_key FROM journal_transactions t "
        "WHERE NOT EXISTS (SELECT 1 FROM postings p WHERE p.transaction_id = t.id) ORDER BY t.id LIMIT :limit"
    ),
    "balance_differs_from_postings": (
        "SELECT a.id AS account_id, a.balance, coalesce(sum(p.amount), 0) AS posted FROM ledger_accounts a "
        "LEFT JOIN postings p ON p.account_id = a.id GROUP BY a.id, a.balance "
        "HAVING a.balance <> coalesce(sum(p.amount), 0) ORDER BY a.id LIMIT :limit"
    ),
    "below_floor": (
        "SELECT id AS account_id, balance, floor FROM ledger_accounts WHERE floor IS NOT NULL AND balance < floor "
        "ORDER BY id LIMIT :limit"
    ),
    "postings_do_not_sum_to_zero": "SELECT sum(amount) AS total FROM postings HAVING coalesce(sum(amount), 0) <> 0",
    # Every top-up has exactly one funding entry (`topup:<id>`) crediting its tokens once it succeeded, and
    # none while pending or after it failed.
    "topup_not_funded_once": (
        "SELECT u.id AS topup_id, u.status, u.tokens, count(t.id) AS entries, "
        "coalesce(sum(p.amount), 0) AS credited FROM topups u "
        "LEFT JOIN journal_transactions t ON t.idempotency_key = 'topup:' || u.id "
        "LEFT JOIN postings p ON p.transaction_id = t.id AND p.account_id = concat_ws(':', 'ws', u.workspace_id, "
        "'available') GROUP BY u.id "
        "HAVING (u.status = 'succeeded' AND (count(t.id) <> 1 OR coalesce(sum(p.amount), 0) <> u.tokens)) "
        "OR (u.status <> 'succeeded' AND count(t.id) <> 0) ORDER BY u.id LIMIT :limit"
    ),
    "topup_entry_without_topup": (
        "SELECT t.id AS transaction_id, t.idempotency_key FROM journal_transactions t WHERE t.kind = 'topup' "
        "AND NOT EXISTS (SELECT 1 FROM topups u WHERE 'topup:' || u.id = t.idempotency_key) ORDER BY t.id LIMIT :limit"
    ),
    # An invoiced top-up is funded when its invoice is paid: one `invoice_paid:<id>` entry then, none before.
    "invoice_not_settled_once": (
        "SELECT i.id AS invoice_id, i.status, count(t.id) AS entries FROM invoices i "
        "LEFT JOIN journal_transactions t ON t.idempotency_key = 'invoice_paid:' || i.id GROUP BY i.id "
        "HAVING count(t.id) <> CASE WHEN i.status = 'paid' THEN 1 ELSE 0 END ORDER BY i.id LIMIT :limit"
    ),
    # A batch's tally (its counts by state, its cost and its usage, kept by triggers: migration 0027) says what its
    # lines' jobs say.
    "batch_tally_differs_from_jobs": (
        "SELECT b.id AS batch_id, "
        "ARRAY[t.queued, t.completed, t.failed, t.cancelled, t.expired, t.cost_tokens, t.input_tokens, "
        "t.output_tokens] AS tallied, "
        "ARRAY[c.queued, c.completed, c.failed, c.cancelled, c.expired, c.cost_tokens, c.input_tokens, "
        "c.output_tokens] AS counted "
        "FROM batches b LEFT JOIN batch_tallies t ON t.batch_id = b.id "
        "CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE j.status = 'queued') AS queued, "
        "count(*) FILTER (WHERE j.status = 'completed') AS completed, "
        "count(*) FILTER (WHERE j.status IN ('failed', 'rejected')) AS failed, "
        "count(*) FILTER (WHERE j.status = 'cancelled') AS cancelled, "
        "count(*) FILTER (WHERE j.status = 'expired') AS expired, "
        "coalesce(sum(j.cost_tokens), 0) AS cost_tokens, coalesce(sum(j.input_tokens), 0) AS input_tokens, "
        "coalesce(sum(j.output_tokens), 0) AS output_tokens, count(j.id) AS jobs "
        "FROM batch_lines l JOIN jobs j ON j.id = l.job_id WHERE l.batch_id = b.id) c "
        "WHERE (t.batch_id IS NULL AND c.jobs > 0) OR (t.batch_id IS NOT NULL AND "
        "(t.queued, t.completed, t.failed, t.cancelled, t.expired, t.cost_tokens, t.input_tokens, t.output_tokens) "
        "<> (c.queued, c.completed, c.failed, c.cancelled, c.expired, c.cost_tokens, c.input_tokens, "
        "c.output_tokens)) "
        "ORDER BY b.id LIMIT :limit"
    ),
    "invoiced_topup_without_invoice": (
        "SELECT u.id AS topup_id FROM topups u WHERE u.method = 'invoice' AND u.status = 'succeeded' "
        "AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.topup_id = u.id) ORDER BY u.id LIMIT :limit"
    ),
}

# Rules over jobs, in one pass: per job its hold entries, its settlement entries (`settle:<job>`, a debit or a
# release), its debits and what they moved to spent; then every rule the job breaks, as (rule, job) rows.
JOB_RULES = """
WITH e AS (
    SELECT j.id AS job_id, j.workspace_id, j.status, j.hold_tokens, j.cost_tokens,
           count(t.id) FILTER (WHERE t.kind = 'hold') AS holds,
           count(t.id) FILTER (WHERE t.kind IN ('debit', 'release')) AS settlements,
           count(t.id) FILTER (WHERE t.kind = 'debit') AS debits,
           coalesce(sum(spent.amount) FILTER (WHERE t.kind = 'debit'), 0) AS debited
    FROM jobs j
    LEFT JOIN journal_transactions t ON t.job_id = j.id
    -- An entry has one leg per account at most, so this adds at most one row per entry.
    LEFT JOIN postings spent
        ON spent.transaction_id = t.id AND spent.account_id = concat_ws(':', 'ws', j.workspace_id, 'spent')
    GROUP BY j.id
), flagged AS (
    SELECT r.rule, e.*, row_number() OVER (PARTITION BY r.rule ORDER BY e.job_id) AS n
    FROM e, unnest(ARRAY[
        -- Debited exactly once, at its cost (a job that held nothing and cost nothing has no entry at all).
        CASE WHEN e.status = 'completed' AND (e.debits <> 1 OR e.debited <> e.cost_tokens)
             AND NOT (e.hold_tokens = 0 AND e.cost_tokens = 0 AND e.holds = 0 AND e.settlements = 0)
             THEN 'completed_job_not_debited_once' END,
        CASE WHEN e.status IN ('failed', 'expired', 'rejected', 'cancelled') AND (e.debits <> 0 OR e.cost_tokens <> 0)
             THEN 'unfinished_job_debited' END,
        CASE WHEN e.status <> 'queued' AND e.holds > e.settlements THEN 'terminal_job_with_open_hold' END,
        -- In flight: one hold (none if it holds nothing) and no settlement yet.
        CASE WHEN e.status = 'queued'
             AND (e.settlements <> 0 OR e.holds <> CASE WHEN e.hold_tokens > 0 THEN 1 ELSE 0 END)
             THEN 'queued_job_without_one_hold' END,
        CASE WHEN e.status = 'rejected' AND e.holds <> 0 THEN 'rejected_job_held' END,
        CASE WHEN e.holds > 1 OR e.settlements > 1 THEN 'job_entries_repeated' END
    ]) AS r(rule)
    WHERE r.rule IS NOT NULL
)
SELECT rule, job_id, workspace_id, status, hold_tokens, cost_tokens, holds, settlements, debits, debited
FROM flagged WHERE n <= :limit ORDER BY rule, job_id
"""


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    rows: list[dict[str, Any]]


async def verify(conn: AsyncConnection) -> list[Violation]:
    """Every broken rule with (up to ROWS_PER_RULE_MAX of) its offending rows; empty when the book is sound."""
    await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
    limit = {"limit": ROWS_PER_RULE_MAX}
    violations = []
    for rule, query in BOOK_RULES.items():
        rows = [_plain_row(row._mapping) for row in await conn.execute(text(query), limit)]
        if rows:
            violations.append(Violation(rule, rows))
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for row in await conn.execute(text(JOB_RULES), limit):
        fields = _plain_row(row._mapping)
        by_rule.setdefault(fields.pop("rule"), []).append(fields)
    violations.extend(Violation(rule, rows) for rule, rows in by_rule.items())
    return violations


async def verify_database(engine: AsyncEngine) -> list[Violation]:
    async with engine.connect() as conn:
        try:
            return await verify(conn)
        finally:
            await conn.rollback()


def _plain_row(row: Any) -> dict[str, Any]:
    return {str(key): _plain(value) for key, value in row.items()}


def _plain(value: Any) -> Any:
    """JSON-friendly: PostgreSQL's numeric sums arrive as Decimal, but every amount here is whole."""
    if value is None or isinstance(value, str | int | bool):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return str(value)
