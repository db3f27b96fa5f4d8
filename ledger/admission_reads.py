"""What admission reads, in one round trip: the price-book versions in force for the batch's models, the limits
configured on its keys and workspaces, its workspaces' accounts (locked) and which of its jobs are recorded already.

Prices and limits are configuration an administrator changes rarely, read in the admission's own transaction so
a change applies to the very next admission. Reading everything with the lock saves three round trips per
admission batch (on the c=1 path, every job is its own batch). What the limits have used so far is read later,
in a statement of its own after the lock (`limits.load_usage`), since only a statement that starts after the lock
is granted sees what the lock's previous holder committed; the recorded jobs need not, as the write that follows
checks them (`holds._RECORD`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from functools import lru_cache

from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import driver, holds, journal, limits
from ledger.price_book import PriceVersion

# One row: a JSON array per source.
_READS = (  # composed of this module's, the journal's and holds' constant SQL only
    "WITH accounts AS MATERIALIZED ("  # noqa: S608
    + journal.LOCKED_ACCOUNTS
    + """)
    SELECT
        (SELECT coalesce(json_agg(accounts), '[]') FROM accounts) AS accounts,
        (SELECT coalesce(json_agg(j), '[]') FROM ("""
    + holds.PREVIOUS_JOBS
    + """) AS j) AS previous,
        (SELECT coalesce(json_agg(p), '[]')
         FROM (SELECT DISTINCT ON (model_id) id, model_id, input_num, input_den, output_num, output_den,
                      cached_input_num, cached_input_den, effective_at
               FROM price_versions
               WHERE model_id = ANY(CAST(%(models)s AS text[])) AND effective_at <= now()
               ORDER BY model_id, effective_at DESC) AS p) AS prices,
        (SELECT coalesce(json_agg(k), '[]')
         FROM (SELECT id, rpm_max, tpm_max, daily_spend_max_tokens, monthly_spend_max_tokens FROM api_keys
               WHERE id = ANY(CAST(%(keys)s AS text[])) AND (rpm_max IS NOT NULL OR tpm_max IS NOT NULL
                     OR daily_spend_max_tokens IS NOT NULL OR monthly_spend_max_tokens IS NOT NULL)) AS k) AS keys,
        (SELECT coalesce(json_agg(w), '[]')
         FROM (SELECT id, rpm_max, tpm_max FROM workspaces
               WHERE id = ANY(CAST(%(workspaces)s AS text[])) AND (rpm_max IS NOT NULL OR tpm_max IS NOT NULL))
              AS w) AS workspace_limits
"""
)


@dataclass(frozen=True, slots=True)
class AdmissionReads:
    versions: dict[str, PriceVersion]
    book: limits.LimitBook
    locked: holds.Locked


async def read(
    conn: AsyncConnection,
    *,
    models: list[str],
    job_ids: list[str],
    keys: list[str],
    workspaces: list[str],
    now: datetime,
) -> AdmissionReads:
    """Lock the workspaces' accounts and read, in the same statement, the versions in force now (by model id; a
    model the book has none for is absent), the limit book and the jobs recorded before."""
    [row] = await driver.fetch(
        conn,
        _READS,
        {
            "workspace_ids": sorted(workspaces),
            "job_ids": job_ids,
            "models": models,
            "keys": sorted(keys),
            "workspaces": sorted(workspaces),
        },
    )
    versions = {price["model_id"]: _version(**price) for price in row["prices"]}
    configured_keys = [
        limits.Configured(
            k["id"], k["rpm_max"], k["tpm_max"], k["daily_spend_max_tokens"], k["monthly_spend_max_tokens"]
        )
        for k in row["keys"]
    ]
    configured_workspaces = [limits.Configured(w["id"], w["rpm_max"], w["tpm_max"]) for w in row["workspace_limits"]]
    locked = holds.Locked(
        {account["workspace_id"]: journal.balances_of(account) for account in row["accounts"]},
        holds.previous_of(row["previous"]),
    )
    return AdmissionReads(versions, limits.book_of(now, configured_keys, configured_workspaces), locked)


@lru_cache(maxsize=1024)
def _version(
    *,
    id: int,
    model_id: str,
    input_num: int,
    input_den: int,
    output_num: int,
    output_den: int,
    cached_input_num: int,
    cached_input_den: int,
    effective_at: str,
) -> PriceVersion:
    """A price version from its row; cached by the whole row, since a version is immutable (a trigger refuses edits)
    and every admission reads the same few."""
    return PriceVersion(
        id=id,
        model_id=model_id,
        input=Fraction(input_num, input_den),
        output=Fraction(output_num, output_den),
        cached_input=Fraction(cached_input_num, cached_input_den),
        effective_at=datetime.fromisoformat(effective_at),
    )
