"""Admission in PostgreSQL: hold credit for a batch of jobs, or refuse them, in a handful of statements.

A job is recorded in `jobs` once (unique by id), with the terms (prices and limits) it is held under: a job already
there is a replay, answered with the first decision and never held twice. With the accounts locked, the batch reads
which of its jobs are recorded already (`Locked`); the new ones are decided in order against each workspace's
running balance, then written by one statement: every job's row in its final state (queued with its hold, or
rejected with its refusal) and every hold's entry. A hold of zero is admitted without an entry (nothing moves).
Rate limits and spend caps (ledger/limits.py) are applied in the same transaction, after the accounts are locked.

A job recorded by a concurrent transaction after the batch read (two ledgers admitting the same job for a moment
during a rebalance) makes that statement write fewer rows than decided: the transaction is refused as a transient
conflict and the batch retried, and the retry reads the job as recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import domain, driver, journal, limits

INSUFFICIENT: dict[str, Any] = {"code": "insufficient_credits", "message": "Insufficient credits"}


@dataclass(frozen=True, slots=True)
class HoldRequest:
    job_id: str
    workspace_id: str
    api_key_id: str
    model_id: str
    hold: int
    tags: tuple[str, ...]
    # Per model of the route: the price and limits the job is held, and will be billed, under.
    terms: dict[str, domain.Terms] = field(default_factory=dict)
    # Why the job is refused before any credit is looked at ({"code", "message"}), or None.
    refusal: dict[str, Any] | None = None
    # What the job counts against tokens-per-minute limits: its input estimate plus its max_tokens.
    tokens: int = 0
    # What the workspace's guardrails did to the prompt (redactions), recorded on the job.
    guardrails: dict[str, Any] | None = None
    # A per-request webhook endpoint: the job's job.* event goes there (checked by ingress, kept on the job).
    webhook_endpoint_id: str | None = None
    # When the job stops being worth running (recorded with it for the expiry sweep); None: no deadline.
    deadline_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Admission:
    job_id: str
    admitted: bool
    hold_tokens: int
    balance_left: int
    replayed: bool
    # The job's state now: a replay of a job that already finished must not be dispatched again.
    status: str = "queued"
    # Why a rejected job was refused ({"code", "message"}).
    error: dict[str, Any] | None = None
    # The broker acknowledged this job's dispatch once: a replay must not send it to a provider again.
    dispatched: bool = False


@dataclass(frozen=True, slots=True)
class Locked:
    """What admission reads under the accounts' lock: the balances, and the batch's jobs recorded before (replays)."""

    balances: dict[str, journal.Balances]
    previous: dict[str, Admission]


# The jobs of a batch already recorded: a replay is answered with its first decision. Also composed into the
# statement that locks the accounts at admission (ledger/admission_reads.py).
PREVIOUS_JOBS = """
    SELECT id, status, hold_tokens, balance_left, error, dispatched_at IS NOT NULL AS dispatched
    FROM jobs WHERE id = ANY(%(job_ids)s)
"""

# New jobs in their final state and their holds' entries, in one statement. The batch travels as one JSON document:
# text arrays of JSON terms and tag literals would be escaped quote by quote by the driver. The deadline is
# written here too, not by a second statement.
_RECORD = (  # composed of this module's and the journal's constant SQL only
    """WITH new_job AS (
        INSERT INTO jobs (id, workspace_id, api_key_id, model_id, status, hold_tokens, tags, terms, deadline_at,
                          guardrails, webhook_endpoint_id, balance_left, error, finished_at)
        SELECT j.id, j.workspace_id, j.api_key_id, j.model_id, j.status, j.hold, coalesce(j.tags, '{}'), j.terms,
               j.deadline_at, j.guardrails, j.webhook_endpoint_id, j.balance_left, j.error,
               CASE WHEN j.status = 'rejected' THEN now() END
        FROM jsonb_to_recordset(CAST(%(jobs)s AS jsonb))
             AS j(id text, workspace_id text, api_key_id text, model_id text, status text, hold bigint, tags text[],
                  terms jsonb, deadline_at timestamptz, guardrails jsonb, webhook_endpoint_id text,
                  balance_left bigint, error jsonb)
        ON CONFLICT (id) DO NOTHING
        RETURNING id
    ), """  # noqa: S608
    + journal.ENTRY_CTES
    + "SELECT (SELECT count(*) FROM new_job) AS jobs, "
    + journal.ENTRY_COUNTS
)


async def lock(conn: AsyncConnection, requests: list[HoldRequest]) -> Locked:
    """Lock the batch's accounts, then read which of its jobs are recorded (a statement after the lock: it sees
    everything committed before the lock was granted)."""
    balances = await journal.lock_accounts(conn, {r.workspace_id for r in requests})
    rows = await driver.fetch(conn, PREVIOUS_JOBS, {"job_ids": [r.job_id for r in requests]})
    return Locked(balances, previous_of(rows))


def previous_of(rows: list[dict[str, Any]]) -> dict[str, Admission]:
    """The first decisions of jobs already recorded, from PREVIOUS_JOBS' rows."""
    return {
        row["id"]: Admission(
            row["id"],
            row["status"] != "rejected",
            row["hold_tokens"],
            row["balance_left"] if row["balance_left"] is not None else 0,
            replayed=True,
            status=row["status"],
            error=row["error"],
            dispatched=row["dispatched"],
        )
        for row in rows
    }


async def admit_batch(
    conn: AsyncConnection,
    requests: list[HoldRequest],
    *,
    now: datetime | None = None,
    book: limits.LimitBook | None = None,
    locked: Locked | None = None,
) -> list[Admission]:
    """Hold credit for each job in order, or refuse it; one answer per request, replays included.

    `book`: the limits of the batch's keys and workspaces when the caller read them already (their use is read
    here, after the lock, unless the caller read it after the lock too); None reads them here. `locked`: what the
    caller read when it locked the batch's accounts; None locks and reads here."""
    if locked is None:
        locked = await lock(conn, requests)
    unique = _first_of_each(requests)
    # Read before this batch's jobs are recorded: their holds must not count twice against a spend cap.
    if book is None:
        book = await limits.load(conn, [limited(r) for r in unique], now or datetime.now(UTC))
    elif not book.usage_loaded:
        await limits.load_usage(conn, book)
    decided: dict[str, Admission] = dict(locked.previous)
    rows: list[dict[str, Any]] = []
    entries: list[journal.Entry] = []
    for request in unique:
        account = locked.balances.get(request.workspace_id)
        if request.job_id in decided or account is None:
            continue
        decided[request.job_id] = admission = _decide(account, request, entries, book)
        rows.append(_job_row(request, admission))
    await _record(conn, rows, entries)
    await limits.save(conn, book)
    answers: list[Admission] = []
    answered: set[str] = set()
    for request in requests:
        found = decided.get(request.job_id)
        if found is None:
            # The workspace does not exist: nothing was recorded and nothing can be held.
            admission = Admission(request.job_id, False, 0, 0, replayed=False, status="rejected")
        elif request.job_id in answered:
            # The same job twice in one batch (a redelivery): the second is a replay of the first.
            admission = replace(found, replayed=True)
        else:
            admission = found
        answered.add(request.job_id)
        answers.append(admission)
    return answers


async def _record(conn: AsyncConnection, rows: list[dict[str, Any]], entries: list[journal.Entry]) -> None:
    if not rows:
        return
    [counts] = await driver.fetch(conn, _RECORD, {"jobs": orjson.dumps(rows).decode()} | journal.entry_params(entries))
    if counts["jobs"] != len(rows):
        raise driver.conflict(_RECORD, f"{len(rows) - counts['jobs']} of the batch's jobs were recorded meanwhile")
    assert journal.recorded(entries, counts) == len(entries), "a new job's hold was already in the journal"


def _decide(
    account: journal.Balances, request: HoldRequest, entries: list[journal.Entry], book: limits.LimitBook
) -> Admission:
    """Admit (moving the running balance, the limit counters and adding the hold entry) or refuse one new job."""
    error = request.refusal or book.refusal(limited(request))
    if error is None and account.available - request.hold < account.available_floor:
        error = INSUFFICIENT
    if error is not None:
        return Admission(request.job_id, False, 0, account.balance_left, False, status="rejected", error=error)
    book.count(limited(request))
    account.available -= request.hold
    account.held += request.hold
    if request.hold > 0:
        entries.append(
            journal.Entry(
                f"hold:{request.job_id}",
                "hold",
                request.workspace_id,
                request.job_id,
                domain.hold_postings(request.workspace_id, request.hold),
                {
                    "model": request.model_id,
                    "api_key_id": request.api_key_id,
                    "tags": list(request.tags),
                    "terms": domain.terms_record(request.terms),
                },
            )
        )
    return Admission(request.job_id, True, request.hold, account.balance_left, replayed=False)


def limited(request: HoldRequest) -> limits.Limited:
    """What the limits count of a job."""
    return limits.Limited(request.workspace_id, request.api_key_id, request.tokens, request.hold)


def _first_of_each(requests: list[HoldRequest]) -> list[HoldRequest]:
    seen: set[str] = set()
    unique = []
    for request in requests:
        if request.job_id not in seen:
            seen.add(request.job_id)
            unique.append(request)
    return unique


def _job_row(request: HoldRequest, admission: Admission) -> dict[str, Any]:
    """A new job's row as `_RECORD` writes it, in its final state: a refused job holds nothing, and keeps its terms
    unless it was refused before pricing mattered (an unpriceable model, a hold it could never have)."""
    return {
        "id": request.job_id,
        "workspace_id": request.workspace_id,
        "api_key_id": request.api_key_id,
        "model_id": request.model_id,
        "status": "queued" if admission.admitted else "rejected",
        "hold": admission.hold_tokens,
        "tags": list(request.tags),
        "terms": None if request.refusal is not None else domain.terms_record(request.terms),
        "deadline_at": request.deadline_at.isoformat() if request.deadline_at is not None else None,
        "guardrails": request.guardrails or None,
        "webhook_endpoint_id": request.webhook_endpoint_id,
        "balance_left": None if admission.admitted else admission.balance_left,
        "error": admission.error,
    }


async def admit(conn: AsyncConnection, request: HoldRequest, *, now: datetime | None = None) -> Admission:
    return (await admit_batch(conn, [request], now=now))[0]
