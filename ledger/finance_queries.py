"""Read-only finance queries: journal entries by keyset page, statements, usage by day, top-ups, alerts, balance.

For ingress and reports; nothing here writes. "Balance" is what a workspace owns: available + held, so a
statement moves only with entries that change it (top-ups, debits, refunds, adjustments), while holds,
releases and invoice payments net to zero there. Large exports stream through a server-side cursor.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.finance_domain import account, bdt_text, closing_balance, fraction_text, statement_bucket

ENTRIES_PAGE_MAX = 500
LIST_PAGE_MAX = 200


def _balance_accounts(workspace_id: str) -> list[str]:
    return [account(workspace_id, "available"), account(workspace_id, "held")]


@dataclass(frozen=True, slots=True)
class EntryFilter:
    since: datetime | None = None
    until: datetime | None = None
    kind: str | None = None
    api_key_id: str | None = None
    model: str | None = None
    tag: str | None = None


_ENTRIES = text(
    """
    SELECT t.id, t.created_at, t.kind, t.job_id, t.detail,
           CAST(coalesce(sum(p.amount) FILTER (WHERE p.account_id = ANY(:bal)), 0) AS bigint) AS balance_delta,
           json_agg(json_build_object('account', a.kind, 'amount', p.amount) ORDER BY p.id) AS postings
    FROM journal_transactions t
    JOIN postings p ON p.transaction_id = t.id
    JOIN ledger_accounts a ON a.id = p.account_id
    WHERE t.workspace_id = :ws
      AND (CAST(:cursor AS bigint) IS NULL OR t.id < :cursor)
      AND (CAST(:since AS timestamptz) IS NULL OR t.created_at >= :since)
      AND (CAST(:until AS timestamptz) IS NULL OR t.created_at < :until)
      AND (CAST(:kind AS text) IS NULL OR t.kind = :kind)
      AND (CAST(:key AS text) IS NULL OR t.detail->>'api_key_id' = :key)
      AND (CAST(:model AS text) IS NULL OR t.detail->>'model' = :model)
      AND (CAST(:tag AS text) IS NULL OR t.detail->'tags' ? :tag)
    GROUP BY t.id
    ORDER BY t.id DESC
    LIMIT :n
    """
)


async def entries(
    conn: AsyncConnection, workspace_id: str, where: EntryFilter, *, cursor: int | None, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of entries, newest first, and the cursor of the next page (None on the last).

    Keyset pagination by entry id: a page never repeats or skips an entry, however many are written meanwhile.
    """
    limit = max(1, min(limit, ENTRIES_PAGE_MAX))
    rows = (
        await conn.execute(
            _ENTRIES,
            {"ws": workspace_id, "bal": _balance_accounts(workspace_id), "cursor": cursor, "n": limit + 1}
            | _filter_params(where),
        )
    ).all()
    page = [
        {
            "id": row.id,
            "created_at": row.created_at.isoformat(),
            "kind": row.kind,
            "job_id": row.job_id,
            "balance_delta_tokens": row.balance_delta,
            "postings": row.postings,
            "detail": row.detail,
        }
        for row in rows[:limit]
    ]
    return page, (rows[limit - 1].id if len(rows) > limit else None)


def _filter_params(where: EntryFilter) -> dict[str, Any]:
    return {
        "since": where.since,
        "until": where.until,
        "kind": where.kind,
        "key": where.api_key_id,
        "model": where.model,
        "tag": where.tag,
    }


@dataclass(slots=True)
class Statement:
    workspace_id: str
    since: str | None
    until: str | None
    opening_balance_tokens: int = 0
    topups_tokens: int = 0
    debits_tokens: int = 0
    refunds_tokens: int = 0
    adjustments_tokens: int = 0
    # Entries of kinds a statement does not name; zero unless a new kind moves the balance (shown, not hidden).
    other_tokens: int = 0
    closing_balance_tokens: int = 0
    debits_by_model: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


# One statement, so one snapshot: the balance now, and every balance movement from the period's start on, by
# line. The opening balance is the balance now minus what moved since the period started, so a statement costs
# the entries from its start to now, not the whole history before it (recent periods are the common case).
# `OFFSET 0` keeps the planner starting from the workspace's entries in the period (its index), not from every
# posting of the balance accounts.
_STATEMENT = text(
    """
    SELECT 'now' AS line, NULL AS model, 0 AS entries,
           CAST((SELECT coalesce(sum(balance), 0) FROM ledger_accounts WHERE id = ANY(:bal)) AS bigint) AS tokens
    UNION ALL
    SELECT CASE WHEN CAST(:until AS timestamptz) IS NOT NULL AND t.created_at >= :until THEN 'after'
                ELSE t.kind END,
           CASE WHEN t.kind = 'debit' AND (CAST(:until AS timestamptz) IS NULL OR t.created_at < :until)
                THEN t.detail->>'model' END,
           count(DISTINCT t.id),
           CAST(sum(p.amount) AS bigint)
    FROM (SELECT id, kind, detail, created_at FROM journal_transactions
          WHERE workspace_id = :ws AND created_at >= coalesce(CAST(:since AS timestamptz), '-infinity')
          OFFSET 0) AS t
    JOIN postings p ON p.transaction_id = t.id AND p.account_id = ANY(:bal)
    GROUP BY 1, 2
    """
)


async def statement(
    conn: AsyncConnection, workspace_id: str, *, since: datetime | None, until: datetime | None
) -> Statement:
    """Opening balance, the period's movements by line, closing balance: they reconcile exactly by construction."""
    result = Statement(workspace_id, since.isoformat() if since else None, until.isoformat() if until else None)
    rows = await conn.execute(
        _STATEMENT, {"ws": workspace_id, "bal": _balance_accounts(workspace_id), "since": since, "until": until}
    )
    balance_now = moved_since_start = 0
    for row in rows:
        if row.line == "now":
            balance_now = row.tokens
            continue
        moved_since_start += row.tokens
        if row.line == "after":
            continue
        bucket = statement_bucket(row.line)
        if bucket == "debits":
            result.debits_tokens -= row.tokens
            result.debits_by_model.append({"model": row.model, "entries": row.entries, "tokens": -row.tokens})
        elif bucket == "topups":
            result.topups_tokens += row.tokens
        elif bucket == "refunds":
            result.refunds_tokens += row.tokens
        elif bucket == "adjustments":
            result.adjustments_tokens += row.tokens
        else:
            result.other_tokens += row.tokens
    result.opening_balance_tokens = balance_now - moved_since_start
    result.debits_by_model.sort(key=lambda line: (line["model"] is None, line["model"] or ""))
    result.closing_balance_tokens = (
        closing_balance(
            result.opening_balance_tokens,
            result.topups_tokens,
            result.debits_tokens,
            result.refunds_tokens,
            result.adjustments_tokens,
        )
        + result.other_tokens
    )
    return result


# The export is one COPY: PostgreSQL writes the CSV (quoting included) and the running balance (a window sum),
# and the rows stream out in blocks, so neither side holds the period in memory and Python touches no row.
# Text a caller chose (a model or key name) is prefixed with ' when it would start a spreadsheet formula.
_EXPORT_COPY = """
COPY (
    SELECT id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), kind, job_id,
           CASE WHEN left(model, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) THEN chr(39) || model ELSE model END,
           CASE WHEN left(key, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) THEN chr(39) || key ELSE key END,
           delta, %(opening)s::bigint + sum(delta) OVER (ORDER BY id)
    FROM (
        SELECT t.id, t.created_at, t.kind, t.job_id, t.detail->>'model' AS model, t.detail->>'api_key_id' AS key,
               sum(p.amount) AS delta
        FROM (SELECT id, created_at, kind, job_id, detail FROM journal_transactions
              WHERE workspace_id = %(ws)s
                AND created_at >= coalesce(%(since)s::timestamptz, '-infinity')
                AND created_at < coalesce(%(until)s::timestamptz, 'infinity')
              OFFSET 0) AS t
        JOIN postings p ON p.transaction_id = t.id AND p.account_id = ANY(%(bal)s)
        GROUP BY t.id, t.created_at, t.kind, t.job_id, t.detail
        HAVING sum(p.amount) <> 0
    ) AS entry
    ORDER BY id
) TO STDOUT (FORMAT csv)
"""

CSV_COLUMNS = ["entry_id", "created_at", "kind", "job_id", "model", "api_key_id", "delta_tokens", "balance_tokens"]


def _cell(value: str | None) -> str:
    """Text a caller chose (a model or key name) never starts a spreadsheet formula."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value or ""


async def statement_csv(
    conn: AsyncConnection, workspace_id: str, *, since: datetime | None, until: datetime | None
) -> AsyncIterator[bytes]:
    """The statement as CSV: its summary lines, then every entry that moved the balance, with the running balance.

    Streams with bounded memory and no row cap: the entries come from one COPY, block by block.
    """
    summary = await statement(conn, workspace_id, since=since, until=until)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["line", "model", "tokens"])
    writer.writerow(["opening_balance", "", summary.opening_balance_tokens])
    writer.writerow(["topups", "", summary.topups_tokens])
    for line in summary.debits_by_model:
        writer.writerow(["debits", _cell(line["model"]), line["tokens"]])
    writer.writerow(["refunds", "", summary.refunds_tokens])
    writer.writerow(["adjustments", "", summary.adjustments_tokens])
    writer.writerow(["other", "", summary.other_tokens])
    writer.writerow(["closing_balance", "", summary.closing_balance_tokens])
    writer.writerow([])
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue().encode()
    params = {
        "ws": workspace_id,
        "bal": _balance_accounts(workspace_id),
        "since": since,
        "until": until,
        "opening": summary.opening_balance_tokens,
    }
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None, "a live connection has a driver connection"
    async with raw.cursor() as cursor, cursor.copy(_EXPORT_COPY, params) as copy:
        async for block in copy:
            yield bytes(block)


_USAGE = text(
    """
    SELECT to_char(date_trunc('day', t.created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS day,
           t.detail->>'model' AS model, t.detail->>'api_key_id' AS api_key_id, tag.tag,
           count(*) AS jobs,
           CAST(sum(coalesce((t.detail->>'input_tokens')::bigint, 0)) AS bigint) AS input_tokens,
           CAST(sum(coalesce((t.detail->>'output_tokens')::bigint, 0)) AS bigint) AS output_tokens,
           CAST(sum(p.amount) AS bigint) AS cost_tokens
    FROM journal_transactions t
    JOIN postings p ON p.transaction_id = t.id AND p.account_id = :spent
    CROSS JOIN LATERAL jsonb_array_elements_text(
        CASE WHEN CAST(:by_tag AS boolean) AND jsonb_typeof(t.detail->'tags') = 'array'
                  AND jsonb_array_length(t.detail->'tags') > 0
             THEN t.detail->'tags' ELSE '[null]'::jsonb END) AS tag(tag)
    WHERE t.workspace_id = :ws AND t.kind = 'debit'
      AND (CAST(:since AS timestamptz) IS NULL OR t.created_at >= :since)
      AND (CAST(:until AS timestamptz) IS NULL OR t.created_at < :until)
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4 NULLS FIRST
    """
)


async def usage_by_day(
    conn: AsyncConnection,
    workspace_id: str,
    *,
    since: datetime | None,
    until: datetime | None,
    by_tag: bool = True,
) -> list[dict[str, Any]]:
    """Debits by UTC day x model x key x tag. A job with several tags counts once under each of its tags; with
    `by_tag=False` every row's tag is null and each job counts once (the rows then add up to what was debited)."""
    rows = await conn.execute(
        _USAGE,
        {"ws": workspace_id, "spent": account(workspace_id, "spent"), "since": since, "until": until, "by_tag": by_tag},
    )
    return [dict(row._mapping) for row in rows]


_TOPUPS = text(
    """
    SELECT t.id, t.amount_paisa, t.tokens, t.rate_version_id,
           CASE WHEN r.tokens_per_bdt_den = 1 THEN r.tokens_per_bdt_num::text
                ELSE r.tokens_per_bdt_num || '/' || r.tokens_per_bdt_den END AS tokens_per_bdt,
           t.method, t.origin, t.status, t.failure_reason, t.attempts, t.next_attempt_at, t.created_at,
           t.updated_at, i.id AS invoice_id, i.status AS invoice_status
    FROM topups t
    JOIN exchange_rates r ON r.id = t.rate_version_id
    LEFT JOIN invoices i ON i.topup_id = t.id
    WHERE t.workspace_id = :ws
      AND (CAST(:cursor AS text) IS NULL OR (t.created_at, t.id) <
           (SELECT c.created_at, c.id FROM topups c WHERE c.id = :cursor AND c.workspace_id = :ws))
    ORDER BY t.created_at DESC, t.id DESC
    LIMIT :n
    """
)


async def topups(conn: AsyncConnection, workspace_id: str, *, cursor: str | None, limit: int) -> list[dict[str, Any]]:
    """Top-ups newest first (keyset by creation time then id; the cursor is the last id seen), with any invoice."""
    rows = await conn.execute(_TOPUPS, {"ws": workspace_id, "cursor": cursor, "n": max(1, min(limit, LIST_PAGE_MAX))})
    return [_jsonable(row._mapping) for row in rows]


async def alerts(conn: AsyncConnection, workspace_id: str, *, cursor: int | None, limit: int) -> list[dict[str, Any]]:
    """Finance events (thresholds crossed, top-ups succeeded or failed), newest first."""
    rows = await conn.execute(
        text(
            "SELECT id, type, payload, created_at, published_at FROM finance_events WHERE workspace_id = :ws "
            "AND (CAST(:cursor AS bigint) IS NULL OR id < :cursor) ORDER BY id DESC LIMIT :n"
        ),
        {"ws": workspace_id, "cursor": cursor, "n": max(1, min(limit, LIST_PAGE_MAX))},
    )
    return [_jsonable(row._mapping) for row in rows]


def _jsonable(mapping: Any) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in mapping.items()}


_SPENT_SINCE = text(
    """
    SELECT CAST(coalesce(sum(p.amount) FILTER (WHERE t.created_at >= date_trunc('day', now() AT TIME ZONE 'UTC')
                                                  AT TIME ZONE 'UTC'), 0) AS bigint) AS today,
           CAST(coalesce(sum(p.amount), 0) AS bigint) AS month
    FROM postings p JOIN journal_transactions t ON t.id = p.transaction_id
    WHERE p.account_id = :spent
      AND t.created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
    """
)


async def auto_topup(conn: AsyncConnection, workspace_id: str) -> dict[str, Any] | None:
    """The workspace's auto top-up as stored, its amount in both units (paisa and the BDT decimal); None if unset.
    The balance summary shows it and `PUT /api/v1/billing/auto-topup` answers it, so the two never differ."""
    row = (
        await conn.execute(
            text(
                "SELECT threshold_tokens, amount_paisa, method, enabled, armed, fired_count AS fired_times "
                "FROM auto_topups WHERE workspace_id = :ws"
            ),
            {"ws": workspace_id},
        )
    ).first()
    if row is None:
        return None
    return dict(row._mapping) | {"amount_bdt": bdt_text(row.amount_paisa)}


async def balance_details(conn: AsyncConnection, workspace_id: str) -> dict[str, Any]:
    """What the balance summary adds for finance: spend today and this month (UTC, net of refunds), the last
    top-up, the auto top-up and each alert threshold with whether it is armed, and the exchange rate in force."""
    spent = (await conn.execute(_SPENT_SINCE, {"spent": account(workspace_id, "spent")})).one()
    last = await topups(conn, workspace_id, cursor=None, limit=1)
    auto = await auto_topup(conn, workspace_id)
    thresholds = await conn.execute(
        text(
            "SELECT id, kind, threshold_tokens, percent, armed FROM alert_thresholds WHERE workspace_id = :ws "
            "ORDER BY id"
        ),
        {"ws": workspace_id},
    )
    rate = (
        await conn.execute(
            text(
                "SELECT id AS version_id, CASE WHEN workspace_id IS NULL THEN 'platform' ELSE 'workspace' END "
                "AS scope, tokens_per_bdt_num AS num, tokens_per_bdt_den AS den, effective_at "
                "FROM exchange_rates WHERE (workspace_id = :ws OR workspace_id IS NULL) AND effective_at <= now() "
                "ORDER BY workspace_id IS NULL, effective_at DESC LIMIT 1"
            ),
            {"ws": workspace_id},
        )
    ).one()
    return {
        "spent_today_tokens": spent.today,
        "spent_this_month_tokens": spent.month,
        "last_topup": last[0] if last else None,
        "auto_topup": auto,
        "alert_thresholds": [dict(row._mapping) for row in thresholds],
        "rate": {
            "version_id": rate.version_id,
            "scope": rate.scope,
            "tokens_per_bdt": fraction_text(Fraction(rate.num, rate.den)),
            "effective_at": rate.effective_at.isoformat(),
        },
    }
