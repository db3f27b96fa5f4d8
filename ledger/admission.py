"""Admission: hold credit for submitted jobs, then dispatch them; or refuse them with a clear code.

A job is priced here, once, with the catalogue as it is now; its terms (price and limits per model of its
route) are recorded with the hold and used at settlement. A job the catalogue cannot price (a model renamed
or removed while the job was queued) or that cannot be held at all (absurd bounds) is rejected, never held.

A job's deadline travels with it: from its submission (or, when ingress set none, its submission time plus
the default deadline) into the `jobs` row the expiry sweep reads and into the dispatch the workers read.
A job that arrives already past its deadline is recorded `expired` without a hold and never dispatched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import admission_reads, domain, driver, holds, pricing, webhook_events
from schemas import topics
from schemas.catalogue import Catalogue
from schemas.errors import ErrorCode
from schemas.events import ChatJobDispatched, ChatJobHeld, ChatJobSubmitted, Envelope, JobError, JobFinished

log = logging.getLogger(__name__)

Outcome = tuple[str, ChatJobDispatched] | JobFinished | None
# A record to publish: (topic, key, event).
Outgoing = tuple[str, bytes, Envelope]

_SET_DEADLINES = text(
    """
    UPDATE jobs SET deadline_at = d.deadline_at
    FROM unnest(CAST(:ids AS text[]), CAST(:deadlines AS timestamptz[])) AS d(id, deadline_at)
    WHERE jobs.id = d.id AND jobs.deadline_at IS NULL
    """
)

_EXPIRE_ON_ARRIVAL = text(
    """
    INSERT INTO jobs (id, workspace_id, api_key_id, model_id, status, hold_tokens, tags, deadline_at, error,
                      finished_at, balance_left)
    SELECT j.id, j.workspace_id, j.api_key_id, j.model_id, 'expired', 0, '{}', j.deadline_at,
           CAST(:error AS jsonb), now(),
           (SELECT CAST(coalesce(sum(a.balance), 0) AS bigint) FROM ledger_accounts a
            WHERE a.workspace_id = j.workspace_id AND a.kind IN ('available', 'held'))
    FROM unnest(CAST(:ids AS text[]), CAST(:workspaces AS text[]), CAST(:keys AS text[]),
                CAST(:models AS text[]), CAST(:deadlines AS timestamptz[]))
         AS j(id, workspace_id, api_key_id, model_id, deadline_at)
    WHERE EXISTS (SELECT 1 FROM workspaces w WHERE w.id = j.workspace_id)
    ON CONFLICT (id) DO NOTHING
    """
)

# One statement in a transaction of its own (autocommit): the mark commits without waiting for its WAL flush
# (`set_config(..., true)` lasts until the statement's own commit), in one round trip instead of four.
_MARK_DISPATCHED = """
    WITH lazy AS (SELECT set_config('synchronous_commit', 'off', true))
    UPDATE jobs SET dispatched_at = now() FROM lazy
    WHERE id = ANY(CAST(%(ids)s AS text[])) AND dispatched_at IS NULL
"""

_STATES = text("SELECT id, status, balance_left, error FROM jobs WHERE id = ANY(:ids)")

EXPIRED_ON_ARRIVAL = JobError(
    code=ErrorCode.EXPIRED, message="the job reached the ledger after its deadline; nothing was held or charged"
)


async def mark_dispatched(source: AsyncEngine | AsyncConnection, job_ids: list[str]) -> None:
    """Record that the broker acknowledged these jobs' dispatches (called after the acknowledgement, so a
    crash before it leaves them undispatched and a replay sends them again: at least once, never twice
    once recorded).

    The mark commits without waiting for its WAL flush: losing it in a crash costs at most one harmless
    re-dispatch on a replay (billed once), while waiting for it would add a disk flush to every sync call.

    `source`: a connection in no transaction (the admission stage's own), or the engine to take one from."""
    if not job_ids:
        return
    if isinstance(source, AsyncConnection):
        await driver.run_alone(source, _MARK_DISPATCHED, {"ids": job_ids})
        return
    async with source.connect() as conn:
        await driver.run_alone(conn, _MARK_DISPATCHED, {"ids": job_ids})


def outgoing(jobs: list[ChatJobSubmitted], outcomes: list[Outcome]) -> tuple[list[Outgoing], list[str]]:
    """What an admitted batch publishes once its transaction commits, and the ids of the jobs it dispatches.

    Each dispatch goes to its lane (the same submission twice in one batch is dispatched once), each refusal to
    `jobs.results`; a streamed job also gets its held notice (`held_notice`)."""
    records: list[Outgoing] = []
    dispatched: list[str] = []
    for job, outcome in zip(jobs, outcomes, strict=True):
        key = topics.job_key(job.job_id)
        if isinstance(outcome, tuple) and job.job_id not in dispatched:
            dispatched.append(job.job_id)
            records.append((outcome[0], key, outcome[1]))
            if held_notice(job):
                records.append((topics.JOBS_STREAM, key, _held(job)))
        elif isinstance(outcome, JobFinished):
            records.append((topics.JOBS_RESULTS, key, outcome))
    return records, dispatched


def held_notice(job: ChatJobSubmitted) -> bool:
    """Whether the job's dispatch comes with a `ChatJobHeld` notice on `jobs.stream`: every streamed job's does.

    Ingress starts a stream (its 200 and SSE keep-alives) on the notice, so a caller whose first token is slower
    than its read timeout is not left with silence until it gives up and retries (a new job, billed again); and it
    keeps an early-started stream's deltas unsent until the notice says the credit is held. (From 2026-12-03 the
    notice went only to streams that may have started early, a record less per stream under load; starting every
    stream on its hold needs it for all.)"""
    return job.params.stream


def _held(job: ChatJobSubmitted) -> ChatJobHeld:
    return ChatJobHeld(workspace_id=job.workspace_id, job_id=job.job_id, traceparent=job.traceparent)


def deadline_of(job: ChatJobSubmitted, default_deadline_s: float) -> datetime:
    deadline = job.deadline_at or job.occurred_at + timedelta(seconds=default_deadline_s)
    # A producer that omits the zone means UTC (every service runs on UTC); compared with aware times below.
    return deadline if deadline.tzinfo is not None else deadline.replace(tzinfo=UTC)


async def admit(
    conn: AsyncConnection,
    catalogue: Catalogue,
    jobs: list[ChatJobSubmitted],
    *,
    default_deadline_s: float,
    now: datetime,
    reads: admission_reads.AdmissionReads | None = None,
) -> list[Outcome]:
    """Write the holds (or refusals) and return, per job, what to publish once they commit: a dispatch, the
    refusal, or nothing for a replayed job that has already finished (its result went out at settlement).

    A caller that has already read the prices, limits, accounts (locked) and recorded jobs of these jobs in this
    transaction (`reads`, from `admission_reads.read` with every live job's id; its balances unmoved since)
    passes them instead of reading them again."""
    deadlines = {job.job_id: deadline_of(job, default_deadline_s) for job in jobs}
    live = [job for job in jobs if deadlines[job.job_id] > now]
    late = [job for job in jobs if deadlines[job.job_id] <= now]
    outcomes: dict[str, Outcome] = {}
    if late:
        outcomes |= await _expire_on_arrival(conn, late, deadlines)
    if live:
        # Priced by the price book's versions in force now (the catalogue where the book has none); the limits,
        # the accounts' lock and the jobs recorded before come in the same round trip (unless the caller, the
        # batch feeder, read them all in this transaction already).
        if reads is None:
            reads = await admission_reads.read(
                conn,
                models=route_models(catalogue, live),
                job_ids=[job.job_id for job in live],
                keys=list({job.api_key_id for job in live}),
                workspaces=list({job.workspace_id for job in live}),
                now=now,
            )
        terms_cache: TermsCache = {}
        requests = [
            hold_request(catalogue, job, reads.versions, deadlines[job.job_id], terms_cache=terms_cache) for job in live
        ]
        admissions = await holds.admit_batch(conn, requests, now=now, book=reads.book, locked=reads.locked)
        # New jobs got their deadline with their row; only a replay of a job recorded before deadlines were
        # recorded can lack one.
        replayed = [job for job, admission in zip(live, admissions, strict=True) if admission.replayed]
        if replayed:
            await conn.execute(
                _SET_DEADLINES,
                {"ids": [job.job_id for job in replayed], "deadlines": [deadlines[job.job_id] for job in replayed]},
            )
        for job, admission in zip(live, admissions, strict=True):
            outcomes.setdefault(job.job_id, _next_step(catalogue, job, admission, deadlines[job.job_id]))
    # A job refused or expired here ends here: its job.failed goes out with the refusal (one statement, only
    # in a batch that refused something; the join finds the endpoints that want it).
    ended = {job.job_id: (job, outcomes[job.job_id]) for job in jobs if isinstance(outcomes[job.job_id], JobFinished)}
    await webhook_events.record_webhook_events(
        conn,
        [
            webhook_events.job_event(outcome, job.webhook_endpoint_id)
            for job, outcome in ended.values()
            if isinstance(outcome, JobFinished)
        ],
    )
    return [outcomes[job.job_id] for job in jobs]


async def _expire_on_arrival(
    conn: AsyncConnection, late: list[ChatJobSubmitted], deadlines: dict[str, datetime]
) -> dict[str, Outcome]:
    await conn.execute(
        _EXPIRE_ON_ARRIVAL,
        {
            "ids": [job.job_id for job in late],
            "workspaces": [job.workspace_id for job in late],
            "keys": [job.api_key_id for job in late],
            "models": [job.model_id for job in late],
            "deadlines": [deadlines[job.job_id] for job in late],
            "error": json.dumps(EXPIRED_ON_ARRIVAL.model_dump()),
        },
    )
    states = {row.id: row for row in await conn.execute(_STATES, {"ids": [job.job_id for job in late]})}
    outcomes: dict[str, Outcome] = {}
    for job in late:
        state = states.get(job.job_id)
        if state is None or state.status not in ("expired", "rejected"):
            # No such workspace, or admitted before and still queued or settled: the sweep or settlement
            # answers for it. A job past its deadline is never dispatched again.
            outcomes[job.job_id] = _finished(job, "expired", 0, EXPIRED_ON_ARRIVAL) if state is None else None
            continue
        error = JobError.model_validate(state.error) if state.error else EXPIRED_ON_ARRIVAL
        outcomes[job.job_id] = _finished(job, state.status, state.balance_left or 0, error)
    return outcomes


def _finished(job: ChatJobSubmitted, status: Any, balance_left: int, error: JobError) -> JobFinished:
    return JobFinished(
        workspace_id=job.workspace_id,
        job_id=job.job_id,
        traceparent=job.traceparent,
        status=status,
        model_id=job.model_id,
        balance_left=balance_left,
        error=error,
    )


def route_models(catalogue: Catalogue, jobs: list[ChatJobSubmitted]) -> list[str]:
    """The canonical ids of every model the jobs' routes name (those the catalogue knows)."""
    found = (catalogue.resolve(name) for job in jobs for name in (job.model_id, *job.route))
    return sorted({model.id for model in found if model is not None})


TermsCache = dict[tuple[str, ...], dict[str, domain.Terms] | None]


def hold_request(
    catalogue: Catalogue,
    job: ChatJobSubmitted,
    versions: Mapping[str, pricing.Version] | None = None,
    deadline_at: datetime | None = None,
    *,
    terms_cache: TermsCache | None = None,
) -> holds.HoldRequest:
    """Price one job at the prices in force (`versions`, else the catalogue); a job that cannot be priced or
    held carries its refusal. `terms_cache`: the terms of each route already priced at these `versions` (the
    jobs of one batch mostly share a route; the terms are immutable, so jobs may share them)."""
    route = (job.model_id, *job.route)
    if terms_cache is None:
        terms = pricing.route_terms(catalogue, route, versions)
    elif route in terms_cache:
        terms = terms_cache[route]
    else:
        terms = terms_cache[route] = pricing.route_terms(catalogue, route, versions)
    refusal: dict[str, Any] | None = None
    hold = 0
    if terms is None:
        missing = [m for m in (job.model_id, *job.route) if catalogue.resolve(m) is None]
        refusal = _refusal(ErrorCode.MODEL_NOT_FOUND, f"model {', '.join(missing)} is not in the catalogue")
        terms = {}
    else:
        # n choices may each use max_tokens: the hold covers all of them (holds cover cost).
        output_bound = job.params.output_tokens_bound()
        problem = domain.hold_problem(job.input_tokens_estimate, output_bound, terms)
        if problem is not None:
            refusal = _refusal(ErrorCode.INVALID_REQUEST, f"the job cannot be held: {problem}")
        else:
            hold = domain.route_hold(job.input_tokens_estimate, output_bound, terms)
            if job.max_cost_tokens is not None and hold > job.max_cost_tokens:
                refusal = _refusal(
                    ErrorCode.GUARDRAIL_BLOCKED,
                    "blocked by the guardrail 'max_cost_tokens_per_request': this request could cost "
                    f"up to {hold} tokens, over the limit of {job.max_cost_tokens}; lower max_tokens or shorten "
                    "the prompt",
                )
                hold = 0
    return holds.HoldRequest(
        job_id=job.job_id,
        workspace_id=job.workspace_id,
        api_key_id=job.api_key_id,
        model_id=job.model_id,
        hold=hold,
        tags=job.params.tags,
        terms=terms,
        refusal=refusal,
        tokens=job.input_tokens_estimate + job.params.output_tokens_bound(),
        guardrails=job.guardrails,
        webhook_endpoint_id=job.webhook_endpoint_id,
        deadline_at=deadline_at,
    )


def _refusal(code: ErrorCode, message: str) -> dict[str, Any]:
    return {"code": code.value, "message": message}


def _next_step(catalogue: Catalogue, job: ChatJobSubmitted, admission: holds.Admission, deadline: datetime) -> Outcome:
    if admission.replayed and (admission.status not in ("queued", "rejected") or admission.dispatched):
        # Finished (its result went out at settlement), or queued and already dispatched: a worker has it.
        return None
    if not admission.admitted:
        return _finished(
            job, "rejected", admission.balance_left, JobError.model_validate(admission.error or holds.INSUFFICIENT)
        )
    model = catalogue.resolve(job.model_id)
    if model is None:
        # A replay of a job held under a model since removed: it cannot be dispatched again; the expiry sweep
        # ends it and releases its hold.
        log.warning("replayed job %s names model %s, no longer in the catalogue", job.job_id, job.model_id)
        return None
    dispatch = ChatJobDispatched(
        workspace_id=job.workspace_id,
        job_id=job.job_id,
        traceparent=job.traceparent,
        model_id=job.model_id,
        route=job.route,
        hold_tokens=admission.hold_tokens,
        params=job.params,
        lane=job.lane,
        deadline_at=deadline,
    )
    return topics.dispatch_topic(model.pool, topics.Lane(job.lane)), dispatch
