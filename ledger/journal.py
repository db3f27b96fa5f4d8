"""The journal: workspaces' accounts, their locks, and balanced entries written many at a time.

Every money movement is an `Entry`: a journal transaction unique by its idempotency key and its postings,
written by `record_entries` in one statement for a whole batch. Balances are moved by the database itself
(a statement-level trigger on `postings`, migration 0005), so nothing else can move them. A replayed entry
inserts nothing and moves nothing. Every batch first locks the accounts of all its workspaces in one global
order (`lock_accounts`), so concurrent batches serialise per workspace and can never deadlock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import domain, driver
from ledger.domain import AccountKind, Posting


@dataclass(slots=True)
class Balances:
    """A workspace's account balances, as locked at the start of a batch and moved as the batch goes."""

    available: int
    held: int
    spent: int
    funding: int
    available_floor: int
    # Some enabled webhook endpoint of the workspace wants job.* events (read with the lock, for settlement).
    webhook_job_events: bool = False
    # The workspace has an alert threshold or an enabled auto top-up: settlement must look for crossings. Read
    # with the lock, so a workspace with neither costs settlement no statement for them; one configured while a
    # batch waits for the lock counts from the next batch (thresholds are configured without that lock, so
    # which settlement first sees a new one was always a race).
    crossings_watched: bool = False

    @property
    def balance_left(self) -> int:
        """What the workspace still owns: available credit plus credit held for running jobs."""
        return self.available + self.held


@dataclass(frozen=True, slots=True)
class Entry:
    idempotency_key: str
    kind: str
    workspace_id: str
    job_id: str | None
    postings: list[Posting]
    detail: dict[str, Any] | None = field(default=None)


# The accounts of a batch's workspaces, locked in one global order (the accounts' ids): one row per workspace with
# the fields of `Balances`. Also composed into the statements where settlement and admission read, under the same
# lock, what they need next (ledger/debits.py, ledger/admission_reads.py): one round trip instead of two.
LOCKED_ACCOUNTS = """
    SELECT workspace_id,
           max(balance) FILTER (WHERE kind = 'available') AS available,
           max(balance) FILTER (WHERE kind = 'held') AS held,
           max(balance) FILTER (WHERE kind = 'spent') AS spent,
           max(balance) FILTER (WHERE kind = 'funding') AS funding,
           max(floor) FILTER (WHERE kind = 'available') AS available_floor,
           bool_or(webhook_job_events) AS webhook_job_events,
           EXISTS (SELECT 1 FROM alert_thresholds t WHERE t.workspace_id = locked.workspace_id)
           OR EXISTS (SELECT 1 FROM auto_topups u WHERE u.workspace_id = locked.workspace_id AND u.enabled)
               AS crossings_watched
    FROM (SELECT a.workspace_id, a.kind, a.balance, a.floor, w.webhook_job_events
          FROM ledger_accounts a JOIN workspaces w ON w.id = a.workspace_id
          WHERE a.workspace_id = ANY(%(workspace_ids)s) ORDER BY a.id FOR UPDATE OF a) AS locked
    GROUP BY workspace_id
"""

# Writes a batch of entries: `entry`, `txn` and `legs`, for a WITH clause. The entries travel as one JSON document
# rather than parallel arrays: a text array of JSON details would have every quote in them escaped by the driver,
# element by element, which cost more CPU than the whole statement. Their legs too: the driver dumps an array
# element by element in Python (3 % of the ledger's CPU while a batch drained, for the legs' three arrays). Also
# composed into the statements that write a stage's own rows with its entries (settlement's jobs, admission's new
# jobs): one round trip instead of two.
ENTRY_CTES = """
    entry AS (
        SELECT * FROM jsonb_to_recordset(CAST(%(entries)s AS jsonb))
                      AS e(idempotency_key text, kind text, workspace_id text, job_id text, detail jsonb)
    ), txn AS (
        INSERT INTO journal_transactions (idempotency_key, kind, workspace_id, job_id, detail)
        SELECT idempotency_key, kind, workspace_id, job_id, detail FROM entry
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id, idempotency_key
    ), legs AS (
        INSERT INTO postings (transaction_id, account_id, amount)
        SELECT txn.id, leg.account_id, leg.amount
        FROM jsonb_to_recordset(CAST(%(legs)s AS jsonb)) AS leg(idempotency_key text, account_id text, amount bigint)
        JOIN txn USING (idempotency_key)
        RETURNING account_id, amount
    )
"""
# What a statement with ENTRY_CTES returns for `recorded`.
ENTRY_COUNTS = "(SELECT count(*) FROM txn) AS entries, (SELECT count(*) FROM legs) AS legs"

_RECORD_ENTRIES = "WITH " + ENTRY_CTES + "SELECT " + ENTRY_COUNTS


def balances_of(row: Mapping[str, Any]) -> Balances:
    """A workspace's balances from its row of LOCKED_ACCOUNTS."""
    return Balances(
        available=row["available"],
        held=row["held"],
        spent=row["spent"],
        funding=row["funding"],
        available_floor=row["available_floor"],
        webhook_job_events=row["webhook_job_events"],
        crossings_watched=row["crossings_watched"],
    )


def entry_params(entries: list[Entry]) -> dict[str, Any]:
    """ENTRY_CTES' parameters for these entries, each checked balanced first."""
    legs = [(entry.idempotency_key, posting) for entry in entries for posting in entry.postings]
    for entry in entries:
        assert entry.postings, f"entry {entry.idempotency_key} has no postings"
        assert domain.is_balanced(entry.postings), f"unbalanced entry {entry.idempotency_key}: {entry.postings}"
        assert len({p.account_id for p in entry.postings}) == len(entry.postings), "one leg per account per entry"
    return {
        "entries": orjson.dumps(
            [
                {
                    "idempotency_key": entry.idempotency_key,
                    "kind": entry.kind,
                    "workspace_id": entry.workspace_id,
                    "job_id": entry.job_id,
                    "detail": entry.detail,
                }
                for entry in entries
            ]
        ).decode(),
        "legs": orjson.dumps(
            [
                {"idempotency_key": key, "account_id": posting.account_id, "amount": posting.amount}
                for key, posting in legs
            ]
        ).decode(),
    }


def recorded(entries: list[Entry], counts: Mapping[str, Any]) -> int:
    """How many of `entries` were new, from ENTRY_COUNTS; a new entry always comes with all its legs."""
    if counts["entries"] == len(entries):
        legs = sum(len(entry.postings) for entry in entries)
        assert counts["legs"] == legs, f"{len(entries)} entries were written with {counts['legs']} of {legs} legs"
    return int(counts["entries"])


async def lock_accounts(conn: AsyncConnection, workspace_ids: set[str]) -> dict[str, Balances]:
    """Lock and read the accounts of these workspaces; a workspace without accounts is absent."""
    rows = await driver.fetch(conn, LOCKED_ACCOUNTS, {"workspace_ids": sorted(workspace_ids)})
    return {row["workspace_id"]: balances_of(row) for row in rows}


async def record_entries(conn: AsyncConnection, entries: list[Entry]) -> int:
    """Insert balanced entries in one statement (their postings move the balances); returns how many were new."""
    if not entries:
        return 0
    [counts] = await driver.fetch(conn, _RECORD_ENTRIES, entry_params(entries))
    return recorded(entries, counts)


async def credited(conn: AsyncConnection, idempotency_key: str, workspace_id: str) -> int | None:
    """What the entry recorded under `idempotency_key` moved into the workspace's available account (None: no entry)."""
    result = await conn.execute(
        text(
            "SELECT sum(p.amount) FROM journal_transactions t JOIN postings p ON p.transaction_id = t.id "
            "WHERE t.idempotency_key = :key AND p.account_id = :account"
        ),
        {"key": idempotency_key, "account": domain.account_id(workspace_id, AccountKind.AVAILABLE)},
    )
    amount = result.scalar_one()
    return None if amount is None else int(amount)


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
        {
            "id": workspace_id,
            "name": name,
            "credit": credit_line_tokens,
            "rate": tokens_per_bdt,
            "model": default_model,
        },
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


async def grant(
    conn: AsyncConnection,
    workspace_id: str,
    tokens: int,
    *,
    idempotency_key: str,
    kind: str = "grant",
    detail: dict[str, Any] | None = None,
) -> bool:
    """Credit a workspace from its funding account (a grant or a top-up); idempotent by key."""
    await lock_accounts(conn, {workspace_id})
    entry = Entry(idempotency_key, kind, workspace_id, None, domain.grant_postings(workspace_id, tokens), detail)
    return await record_entries(conn, [entry]) == 1
