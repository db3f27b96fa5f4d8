"""Admission in PostgreSQL: hold credit for a batch of jobs, or refuse them, in a handful of statements.

A job is recorded in `jobs` first (unique by id), with the terms (prices and limits) it is held under: a job
already there is a replay, answered with the first decision and never held twice. New jobs are decided in order
against each workspace's running balance, then every hold is written by one `record_entries` call and every
refusal by one update. A hold of zero is admitted without an entry (nothing moves). Rate limits and spend
caps (ledger/limits.py) are applied in the same transaction, after the accounts are locked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import domain, journal, limits

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


# The batch travels as one JSON document: text arrays of JSON terms and tag literals would be escaped quote by
# quote by the driver. The deadline is written here too, not by a second statement.
_INSERT_JOBS = text(
    """
    INSERT INTO jobs (id, workspace_id, api_key_id, model_id, status, hold_tokens, tags, terms, deadline_at,
                      guardrails, webhook_endpoint_id)
    SELECT j.id, j.workspace_id, j.api_key_id, j.model_id, 'queued', j.hold, coalesce(j.tags, '{}'), j.terms,
           j.deadline_at, j.guardrails, j.webhook_endpoint_id
    FROM jsonb_to_recordset(CAST(:jobs AS jsonb))
         AS j(id text, workspace_id text, api_key_id text, model_id text, hold bigint, tags text[], terms jsonb,
              deadline_at timestamptz, guardrails jsonb, webhook_endpoint_id text)
    WHERE EXISTS (SELECT 1 FROM workspaces w WHERE w.id = j.workspace_id)
    ON CONFLICT (id) DO NOTHING
    RETURNING id
    """
)

_PREVIOUS = text("SELECT id, status, hold_tokens, balance_left, error, dispatched_at FROM jobs WHERE id = ANY(:ids)")

_REFUSE = text(
    """
    UPDATE jobs SET status = 'rejected', hold_tokens = 0, balance_left = r.balance_left, finished_at = now(),
                    error = r.error
    FROM unnest(CAST(:ids AS text[]), CAST(:balances AS bigint[]), CAST(:errors AS jsonb[]))
         AS r(id, balance_left, error)
    WHERE jobs.id = r.id
    """
)


async def admit_batch(
    conn: AsyncConnection,
    requests: list[HoldRequest],
    *,
    now: datetime | None = None,
    book: limits.LimitBook | None = None,
    balances: dict[str, journal.Balances] | None = None,
) -> list[Admission]:
    """Hold credit for each job in order, or refuse it; one answer per request, replays included.

    `book`: the limits of the batch's keys and workspaces when the caller read them already (their use is read
    here, after the lock); None reads them here. `balances`: the workspaces' accounts when the caller has
    locked them in this transaction already (they are moved here as jobs are held); None locks them here."""
    if balances is None:
        balances = await journal.lock_accounts(conn, {r.workspace_id for r in requests})
    unique = _first_of_each(requests)
    # Read before this batch's jobs are recorded: their holds must not count twice against a spend cap.
    if book is None:
        book = await limits.load(conn, [_limited(r) for r in unique], now or datetime.now(UTC))
    else:
        await limits.load_usage(conn, book)
    # Jobs of one batch share their route's terms (admission.hold_request): each distinct terms is recorded once.
    records: dict[int, dict[str, Any]] = {}
    inserted = await conn.execute(_INSERT_JOBS, {"jobs": json.dumps([_job_row(r, records) for r in unique])})
    new_ids = {row.id for row in inserted}
    decided: dict[str, Admission] = await _previous(conn, [r.job_id for r in unique if r.job_id not in new_ids])
    entries: list[journal.Entry] = []
    refused: list[Admission] = []
    for request in unique:
        if request.job_id not in new_ids:
            continue
        admission = _decide(balances[request.workspace_id], request, entries, book, records)
        if not admission.admitted:
            refused.append(admission)
        decided[request.job_id] = admission
    recorded = await journal.record_entries(conn, entries)
    await limits.save(conn, book)
    assert recorded == len(entries), "a new job's hold was already in the journal"
    if refused:
        await conn.execute(
            _REFUSE,
            {
                "ids": [a.job_id for a in refused],
                "balances": [a.balance_left for a in refused],
                "errors": [json.dumps(a.error) for a in refused],
            },
        )
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


def _decide(
    account: journal.Balances,
    request: HoldRequest,
    entries: list[journal.Entry],
    book: limits.LimitBook,
    records: dict[int, dict[str, Any]],
) -> Admission:
    """Admit (moving the running balance, the limit counters and adding the hold entry) or refuse one new job."""
    error = request.refusal or book.refusal(_limited(request))
    if error is None and account.available - request.hold < account.available_floor:
        error = INSUFFICIENT
    if error is not None:
        return Admission(request.job_id, False, 0, account.balance_left, False, status="rejected", error=error)
    book.count(_limited(request))
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
                {"model": request.model_id, "tags": list(request.tags), "terms": _terms_record(request, records)},
            )
        )
    return Admission(request.job_id, True, request.hold, account.balance_left, replayed=False)


def _limited(request: HoldRequest) -> limits.Limited:
    return limits.Limited(request.workspace_id, request.api_key_id, request.tokens, request.hold)


def _first_of_each(requests: list[HoldRequest]) -> list[HoldRequest]:
    seen: set[str] = set()
    unique = []
    for request in requests:
        if request.job_id not in seen:
            seen.add(request.job_id)
            unique.append(request)
    return unique


async def _previous(conn: AsyncConnection, job_ids: list[str]) -> dict[str, Admission]:
    if not job_ids:
        return {}
    rows = await conn.execute(_PREVIOUS, {"ids": job_ids})
    return {
        row.id: Admission(
            row.id,
            row.status != "rejected",
            row.hold_tokens,
            row.balance_left if row.balance_left is not None else 0,
            replayed=True,
            status=row.status,
            error=row.error,
            dispatched=row.dispatched_at is not None,
        )
        for row in rows
    }


def _terms_record(request: HoldRequest, records: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """`domain.terms_record` of the request's terms, made once per terms object of the batch."""
    record = records.get(id(request.terms))
    if record is None:
        record = records[id(request.terms)] = domain.terms_record(request.terms)
    return record


def _job_row(request: HoldRequest, records: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """A new job's row as `_INSERT_JOBS` reads it; a refused job holds nothing, whatever its request computed."""
    refused = request.refusal is not None
    return {
        "id": request.job_id,
        "workspace_id": request.workspace_id,
        "api_key_id": request.api_key_id,
        "model_id": request.model_id,
        "hold": 0 if refused else request.hold,
        "tags": list(request.tags),
        "terms": None if refused else _terms_record(request, records),
        "deadline_at": request.deadline_at.isoformat() if request.deadline_at is not None else None,
        "guardrails": request.guardrails or None,
        "webhook_endpoint_id": request.webhook_endpoint_id,
    }


async def admit(conn: AsyncConnection, request: HoldRequest, *, now: datetime | None = None) -> Admission:
    return (await admit_batch(conn, [request], now=now))[0]
