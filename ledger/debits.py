"""Settlement in PostgreSQL: debit a batch of finished jobs and release their holds, each exactly once.

The batch locks its workspaces' accounts, then its jobs. A job no longer `queued` was settled before (a
redelivered usage event): its stored outcome is returned and nothing moves. The others are priced in order
against each workspace's running balance, written by one `record_entries` call and one update of `jobs`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import domain, journal


@dataclass(frozen=True, slots=True)
class Usage:
    """What a worker reported, priced by the ledger."""

    job_id: str
    outcome: Literal["completed", "failed", "expired"]
    model_id: str | None
    provider: str | None
    input_tokens: int
    output_tokens: int
    priced_cost: int
    answer: str | None
    finish_reason: str | None
    error: dict[str, Any] | None


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
    uncharged_tokens: int
    balance_left: int
    answer: str | None
    finish_reason: str | None
    error: dict[str, Any] | None
    replayed: bool


_LOCK_JOBS = text("SELECT * FROM jobs WHERE id = ANY(:ids) ORDER BY id FOR UPDATE")

_FINISH_JOBS = text(
    """
    UPDATE jobs SET status = f.status, input_tokens = f.input_tokens, output_tokens = f.output_tokens,
        cost_tokens = f.cost_tokens, uncharged_tokens = f.uncharged_tokens, balance_left = f.balance_left,
        answered_by = f.answered_by, provider = f.provider, finish_reason = f.finish_reason, answer = f.answer,
        error = f.error, finished_at = now()
    FROM unnest(CAST(:ids AS text[]), CAST(:statuses AS text[]), CAST(:inputs AS bigint[]),
                CAST(:outputs AS bigint[]), CAST(:costs AS bigint[]), CAST(:uncharged AS bigint[]),
                CAST(:balances AS bigint[]), CAST(:models AS text[]), CAST(:providers AS text[]),
                CAST(:finishes AS text[]), CAST(:answers AS text[]), CAST(:errors AS jsonb[]))
         AS f(id, status, input_tokens, output_tokens, cost_tokens, uncharged_tokens, balance_left, answered_by,
              provider, finish_reason, answer, error)
    WHERE jobs.id = f.id
    """
)


async def settle_batch(conn: AsyncConnection, workspace_ids: set[str], usages: list[Usage]) -> list[SettledJob | None]:
    """Settle each job once, in order; None for a job the ledger never admitted."""
    balances = await journal.lock_accounts(conn, workspace_ids)
    rows = {row.id: row._mapping for row in await conn.execute(_LOCK_JOBS, {"ids": [u.job_id for u in usages]})}
    outcomes: dict[str, SettledJob] = {}
    answers: list[SettledJob | None] = []
    entries: list[journal.Entry] = []
    for usage in usages:
        if usage.job_id in outcomes:
            answers.append(replace(outcomes[usage.job_id], replayed=True))
            continue
        job = rows.get(usage.job_id)
        if job is None:
            answers.append(None)
            continue
        if job["status"] != "queued":
            outcomes[usage.job_id] = _from_row(job)
            answers.append(outcomes[usage.job_id])
            continue
        workspace_id = job["workspace_id"]
        assert workspace_id in balances, f"usage for {usage.job_id} names another workspace than its job"
        account = balances[workspace_id]
        completed = usage.outcome == "completed"
        amounts = domain.settle_amounts(job["hold_tokens"], usage.priced_cost if completed else 0)
        if job["hold_tokens"] > 0:
            entries.append(
                journal.Entry(
                    f"settle:{usage.job_id}",
                    "debit" if completed else "release",
                    workspace_id,
                    usage.job_id,
                    domain.settle_postings(workspace_id, job["hold_tokens"], amounts.cost_tokens),
                    {
                        "input_tokens": usage.input_tokens,
                        "output_tokens": usage.output_tokens,
                        "model": usage.model_id,
                        "tags": list(job["tags"]),
                        "api_key_id": job["api_key_id"],
                    },
                )
            )
        account.held -= job["hold_tokens"]
        account.available += job["hold_tokens"] - amounts.cost_tokens
        account.spent += amounts.cost_tokens
        outcomes[usage.job_id] = SettledJob(
            job_id=usage.job_id,
            workspace_id=workspace_id,
            status=usage.outcome,
            model_id=usage.model_id or job["model_id"],
            provider=usage.provider,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_tokens=amounts.cost_tokens,
            uncharged_tokens=amounts.uncharged_tokens,
            balance_left=account.balance_left,
            answer=usage.answer,
            finish_reason=usage.finish_reason,
            error=usage.error,
            replayed=False,
        )
        answers.append(outcomes[usage.job_id])
    recorded = await journal.record_entries(conn, entries)
    assert recorded == len(entries), "a queued job's settlement was already in the journal"
    await _finish(conn, [job for job in outcomes.values() if not job.replayed])
    return answers


async def _finish(conn: AsyncConnection, settled: list[SettledJob]) -> None:
    if not settled:
        return
    await conn.execute(
        _FINISH_JOBS,
        {
            "ids": [s.job_id for s in settled],
            "statuses": [s.status for s in settled],
            "inputs": [s.input_tokens for s in settled],
            "outputs": [s.output_tokens for s in settled],
            "costs": [s.cost_tokens for s in settled],
            "uncharged": [s.uncharged_tokens for s in settled],
            "balances": [s.balance_left for s in settled],
            "models": [s.model_id for s in settled],
            "providers": [s.provider for s in settled],
            "finishes": [s.finish_reason for s in settled],
            "answers": [s.answer for s in settled],
            "errors": [json.dumps(s.error) if s.error is not None else None for s in settled],
        },
    )


def _from_row(row: Any) -> SettledJob:
    return SettledJob(
        job_id=row["id"],
        workspace_id=row["workspace_id"],
        status=row["status"],
        model_id=row["answered_by"] or row["model_id"],
        provider=row["provider"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        cost_tokens=row["cost_tokens"],
        uncharged_tokens=row["uncharged_tokens"],
        balance_left=row["balance_left"] if row["balance_left"] is not None else 0,
        answer=row["answer"],
        finish_reason=row["finish_reason"],
        error=row["error"],
        replayed=True,
    )


async def settle(conn: AsyncConnection, workspace_id: str, usage: Usage) -> SettledJob | None:
    return (await settle_batch(conn, {workspace_id}, [usage]))[0]
