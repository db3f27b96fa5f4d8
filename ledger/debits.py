"""Settlement in PostgreSQL: debit a batch of finished jobs and release their holds, each exactly once.

The batch locks its workspaces' accounts, then its jobs. A job no longer `queued` was settled before (a
redelivered usage event): its stored outcome is returned and nothing moves. The others are priced in order at
the terms recorded on the job at admission, against each workspace's running balance (the overrun rule in
`ledger.domain.settle_amounts`), written by one `record_entries` call and one update of `jobs`. A usage that
cannot be billed (negative, absurd or unpriceable counts) settles its job `failed` with `upstream_error` and
releases the hold: one broken provider answer costs one job, never the batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import domain, driver, journal, queries
from schemas.chat_options import ResultChoice
from schemas.errors import ErrorCode
from schemas.results import JobResult, PriceUsed, result_status


@dataclass(frozen=True, slots=True)
class Usage:
    """What a worker reported; the ledger prices it."""

    job_id: str
    outcome: Literal["completed", "failed", "expired"]
    model_id: str | None
    provider: str | None
    input_tokens: int
    output_tokens: int
    answer: str | None
    finish_reason: str | None
    error: dict[str, Any] | None
    usage_estimated: bool = False
    attempts: int = 0
    first_token_ms: int | None = None
    choices: tuple[ResultChoice, ...] = ()
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    system_fingerprint: str | None = None


class SettledJob(JobResult):
    """A settled job's result, whether this usage was a replay (the job was settled before), where its job.*
    webhook event goes (the job's per-request endpoint, and whether its workspace subscribes to any), and
    whether its workspace has thresholds or an auto top-up to look at (`journal.Balances.crossings_watched`)."""

    replayed: bool = False
    webhook_endpoint_id: str | None = None
    webhook_job_events: bool = False
    crossings_watched: bool = False


@dataclass(frozen=True, slots=True)
class _Priced:
    """A usage checked and priced: what the job's row and its entry will say."""

    status: str
    input_tokens: int
    output_tokens: int
    # The input tokens billed at the cached-input price (0 when the provider read none from its cache).
    cached_input_tokens: int
    priced_cost: int
    error: dict[str, Any] | None
    price: PriceUsed | None


# The batch's accounts, then its jobs, locked in one statement. Every account is locked before any job, as every
# writer locks them (so batches never deadlock): the jobs' scan is gated by a one-time filter on the whole of
# `accounts`, which the executor evaluates before it reads the first job. After waiting for a lock, FOR UPDATE still
# returns each job's newest version, so a job a concurrent batch settled meanwhile reads as settled.
_LOCK = (  # composed of this module's and the journal's constant SQL only
    "WITH accounts AS MATERIALIZED ("  # noqa: S608
    + journal.LOCKED_ACCOUNTS
    + """), locked_jobs AS MATERIALIZED (
        SELECT * FROM jobs WHERE id = ANY(%(job_ids)s) AND (SELECT count(*) FROM accounts) >= 0
        ORDER BY id FOR UPDATE
    )
    SELECT j.*, to_json(a) AS account FROM locked_jobs j LEFT JOIN accounts a USING (workspace_id)
"""
)

# The debits (and releases) and the jobs' final state in one statement. The jobs travel as one JSON document: a
# text array of answers and JSON errors would be escaped quote by quote by the driver.
_SETTLE = (  # composed of this module's and the journal's constant SQL only
    "WITH "  # noqa: S608
    + journal.ENTRY_CTES
    + """, finished AS (
        UPDATE jobs SET status = f.status, input_tokens = f.input_tokens, output_tokens = f.output_tokens,
            cost_tokens = f.cost_tokens, uncharged_tokens = f.uncharged_tokens, overrun_tokens = f.overrun_tokens,
            usage_estimated = f.usage_estimated, balance_left = f.balance_left,
            answered_by = f.answered_by, provider = f.provider, finish_reason = f.finish_reason, answer = f.answer,
            error = f.error, attempts = f.attempts, first_token_ms = f.first_token_ms, choices = f.choices,
            cached_input_tokens = f.cached_input_tokens, reasoning_tokens = f.reasoning_tokens,
            system_fingerprint = f.system_fingerprint, finished_at = now()
        FROM jsonb_to_recordset(CAST(%(jobs)s AS jsonb))
             AS f(id text, status text, input_tokens bigint, output_tokens bigint, cost_tokens bigint,
                  uncharged_tokens bigint, overrun_tokens bigint, usage_estimated boolean, balance_left bigint,
                  answered_by text, provider text, finish_reason text, answer text, error jsonb, attempts integer,
                  first_token_ms integer, choices jsonb, cached_input_tokens bigint, reasoning_tokens bigint,
                  system_fingerprint text)
        WHERE jobs.id = f.id
        RETURNING jobs.id
    )
    SELECT """
    + journal.ENTRY_COUNTS
    + ", (SELECT count(*) FROM finished) AS finished"
)


def price_usage(usage: Usage, terms: Mapping[str, domain.Terms]) -> _Priced:
    """Check a usage against the job's terms and price it; an unbillable one fails the job (nothing charged).

    The input tokens the provider read from its cache cost the recorded cached-input price (a count above the
    input tokens it is part of is read as all of them, as the answer shows it)."""
    if usage.outcome != "completed":
        sane = 0 <= usage.input_tokens <= domain.AMOUNT_MAX and 0 <= usage.output_tokens <= domain.AMOUNT_MAX
        tokens_in, tokens_out = (usage.input_tokens, usage.output_tokens) if sane else (0, 0)
        return _Priced(usage.outcome, tokens_in, tokens_out, 0, 0, usage.error, None)
    model_terms = terms.get(usage.model_id) if usage.model_id is not None else None
    cached = min(usage.cached_input_tokens, usage.input_tokens) if usage.cached_input_tokens > 0 else 0
    if model_terms is None:
        problem: str | None = f"the answering model {usage.model_id!r} has no recorded price for this job"
    else:
        problem = domain.usage_problem(usage.input_tokens, usage.output_tokens, model_terms, cached)
    if problem is not None or model_terms is None:
        error = {"code": ErrorCode.UPSTREAM_ERROR.value, "message": f"the provider's usage cannot be billed: {problem}"}
        return _Priced("failed", 0, 0, 0, 0, error, None)
    price = model_terms.price
    cost = domain.price_tokens(usage.input_tokens, usage.output_tokens, price, cached)
    return _Priced("completed", usage.input_tokens, usage.output_tokens, cached, cost, usage.error, price_used(price))


def price_used(price: domain.Price) -> PriceUsed:
    """The multipliers a job's result says it was priced at; the same text as its recorded terms."""
    return PriceUsed(
        input=domain.fraction_text(price.input),
        output=domain.fraction_text(price.output),
        cached_input=domain.fraction_text(price.cached_input),
    )


async def settle_batch(
    conn: AsyncConnection,
    workspace_ids: set[str],
    usages: list[Usage],
    fallback_terms: Mapping[str, domain.Terms] | None = None,
) -> list[SettledJob | None]:
    """Settle each job once, in order; None for a job the ledger never admitted.

    `fallback_terms` (today's catalogue) prices only jobs admitted before terms were recorded with them.
    """
    locked = await driver.fetch(
        conn, _LOCK, {"workspace_ids": sorted(workspace_ids), "job_ids": [u.job_id for u in usages]}
    )
    rows = {row["id"]: row for row in locked}
    balances: dict[str, journal.Balances] = {}
    for row in locked:
        if row["account"] is not None and row["workspace_id"] not in balances:
            balances[row["workspace_id"]] = journal.balances_of(row["account"])
    outcomes: dict[str, SettledJob] = {}
    answers: list[SettledJob | None] = []
    entries: list[journal.Entry] = []
    for usage in usages:
        if usage.job_id in outcomes:
            answers.append(outcomes[usage.job_id].model_copy(update={"replayed": True}))
            continue
        job = rows.get(usage.job_id)
        if job is None or job["workspace_id"] not in balances:
            # Never admitted, or the usage names another workspace than its job: nothing to settle here.
            answers.append(None)
            continue
        if job["status"] != "queued":
            outcomes[usage.job_id] = _from_row(job)
            answers.append(outcomes[usage.job_id])
            continue
        terms = domain.terms_from_record(job["terms"]) if job["terms"] is not None else (fallback_terms or {})
        outcomes[usage.job_id] = _settle_one(job, usage, price_usage(usage, terms), balances, entries)
        answers.append(outcomes[usage.job_id])
    await _write(conn, entries, [job for job in outcomes.values() if not job.replayed])
    return answers


def _settle_one(
    job: Any,
    usage: Usage,
    priced: _Priced,
    balances: dict[str, journal.Balances],
    entries: list[journal.Entry],
) -> SettledJob:
    """Bill one queued job against its workspace's running balance and add its settlement entry."""
    workspace_id = job["workspace_id"]
    account = balances[workspace_id]
    hold = job["hold_tokens"]
    amounts = domain.settle_amounts(hold, priced.priced_cost, account.available, account.available_floor)
    completed = priced.status == "completed"
    estimated = usage.usage_estimated and completed
    postings = domain.settle_postings(workspace_id, hold, amounts.cost_tokens)
    if postings:
        detail: dict[str, Any] = {
            "input_tokens": priced.input_tokens,
            "output_tokens": priced.output_tokens,
            "cached_input_tokens": priced.cached_input_tokens,
            "model": usage.model_id,
            "tags": list(job["tags"]),
            "api_key_id": job["api_key_id"],
            "usage_estimated": estimated,
            "priced_cost_tokens": priced.priced_cost,
            "overrun_tokens": amounts.overrun_tokens,
            "unbilled_tokens": amounts.unbilled_tokens,
        }
        if priced.price is not None:
            detail["price"] = priced.price.model_dump()
        kind = "debit" if priced.status == "completed" else "release"
        entries.append(journal.Entry(f"settle:{usage.job_id}", kind, workspace_id, usage.job_id, postings, detail))
    account.held -= hold
    account.available += hold - amounts.cost_tokens
    account.spent += amounts.cost_tokens
    return SettledJob(
        job_id=usage.job_id,
        workspace_id=workspace_id,
        status=result_status(priced.status),
        model_id=usage.model_id or job["model_id"],
        provider=usage.provider,
        input_tokens=priced.input_tokens,
        output_tokens=priced.output_tokens,
        answer=usage.answer,
        finish_reason=usage.finish_reason,
        cost_tokens=amounts.cost_tokens,
        balance_left=account.balance_left,
        error=priced.error,
        usage_estimated=estimated,
        attempts=usage.attempts,
        first_token_ms=usage.first_token_ms,
        overrun_tokens=amounts.overrun_tokens,
        unbilled_tokens=amounts.unbilled_tokens,
        price=priced.price,
        webhook_endpoint_id=job["webhook_endpoint_id"],
        webhook_job_events=account.webhook_job_events,
        crossings_watched=account.crossings_watched,
        # A failed job answered nothing: its choices (if a provider sent any) are not the caller's, nor the details
        # of an answer it does not have.
        choices=usage.choices if completed else (),
        cached_input_tokens=usage.cached_input_tokens if completed else 0,
        reasoning_tokens=usage.reasoning_tokens if completed else 0,
        system_fingerprint=usage.system_fingerprint if completed else None,
    )


async def _write(conn: AsyncConnection, entries: list[journal.Entry], settled: list[SettledJob]) -> None:
    """Record the settlement entries and the settled jobs' final state (nothing when every job was a replay)."""
    if not settled:
        assert not entries, "entries without settled jobs"
        return
    params = journal.entry_params(entries) | {"jobs": orjson.dumps(_finish_rows(settled)).decode()}
    [counts] = await driver.fetch(conn, _SETTLE, params)
    assert journal.recorded(entries, counts) == len(entries), "a queued job's settlement was already in the journal"
    assert counts["finished"] == len(settled), f"{counts['finished']} of {len(settled)} settled jobs were updated"


def _finish_rows(settled: list[SettledJob]) -> list[dict[str, Any]]:
    return [
        {
            "id": s.job_id,
            "status": s.status,
            "input_tokens": s.input_tokens,
            "output_tokens": s.output_tokens,
            "cost_tokens": s.cost_tokens,
            "uncharged_tokens": s.unbilled_tokens,
            "overrun_tokens": s.overrun_tokens,
            "usage_estimated": s.usage_estimated,
            "balance_left": s.balance_left,
            "answered_by": s.model_id,
            "provider": s.provider,
            "finish_reason": s.finish_reason,
            "answer": s.answer,
            "error": s.error.model_dump() if s.error is not None else None,
            "attempts": s.attempts,
            "first_token_ms": s.first_token_ms,
            "choices": _choices_list(s),
            "cached_input_tokens": s.cached_input_tokens,
            "reasoning_tokens": s.reasoning_tokens,
            "system_fingerprint": s.system_fingerprint,
        }
        for s in settled
    ]


def _choices_list(settled: SettledJob) -> list[dict[str, Any]] | None:
    """A job's choices as its JSON column takes them (None: a plain answer)."""
    if not settled.choices:
        return None
    return [choice.model_dump(mode="json") for choice in settled.choices]


def _from_row(row: Any) -> SettledJob:
    return SettledJob(**queries.result_of(row).model_dump(), replayed=True)


async def settle(conn: AsyncConnection, workspace_id: str, usage: Usage) -> SettledJob | None:
    return (await settle_batch(conn, {workspace_id}, [usage]))[0]
