"""Read-only queries over the ledger's tables, for other services (ingress) and finance reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import limits
from schemas.chat_options import ResultChoice
from schemas.results import JobError, JobResult, PriceUsed, result_status


@dataclass(frozen=True, slots=True)
class JobState:
    """A job as its workspace sees it: where it is, and once finished its result."""

    id: str
    status: str
    # The answering model once finished, else the one asked for.
    model_id: str
    tags: list[str]
    result: JobResult | None
    # What the workspace's guardrails did to the prompt (e.g. {"redacted": {"email": 1}}), when anything.
    guardrails: dict[str, Any] | None = None


_JOB = text(
    "SELECT id, workspace_id, status, model_id, answered_by, provider, input_tokens, output_tokens, cost_tokens, "
    "uncharged_tokens, overrun_tokens, usage_estimated, attempts, first_token_ms, balance_left, answer, "
    "finish_reason, error, terms, tags, guardrails, choices, cached_input_tokens, reasoning_tokens, system_fingerprint "
    "FROM jobs WHERE id = :id AND workspace_id = :ws"
)


async def job(conn: AsyncConnection, workspace_id: str, job_id: str) -> JobState | None:
    """A job as its workspace sees it; another workspace's job is reported as absent."""
    row = (await conn.execute(_JOB, {"id": job_id, "ws": workspace_id})).first()
    if row is None:
        return None
    fields = row._mapping
    result = result_of(fields) if fields["status"] != "queued" else None
    model_id = fields["answered_by"] or fields["model_id"]
    return JobState(
        id=fields["id"],
        status=fields["status"],
        model_id=model_id,
        tags=fields["tags"],
        result=result,
        guardrails=fields["guardrails"],
    )


def result_of(row: Mapping[Any, Any], *, priced: bool = True) -> JobResult:
    """A finished job's result from its `jobs` row (every column settlement wrote, and the price it used).

    `priced=False`: the row has no `terms` and the result no `price` (for renderers that show no price: decoding
    every job's terms was a sixth of a batch results download's CPU)."""
    model_id = row["answered_by"] or row["model_id"]
    return JobResult(
        workspace_id=row["workspace_id"],
        job_id=row["id"],
        status=result_status(row["status"]),
        model_id=model_id,
        provider=row["provider"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        answer=row["answer"],
        finish_reason=row["finish_reason"],
        cost_tokens=row["cost_tokens"],
        balance_left=row["balance_left"] if row["balance_left"] is not None else 0,
        error=JobError.model_validate(row["error"]) if row["error"] else None,
        usage_estimated=row["usage_estimated"],
        attempts=row["attempts"] or 0,
        first_token_ms=row.get("first_token_ms"),
        overrun_tokens=row["overrun_tokens"],
        unbilled_tokens=row["uncharged_tokens"],
        price=_price_used(row["terms"], model_id) if priced and row["status"] == "completed" else None,
        choices=tuple(ResultChoice.model_validate(choice) for choice in row.get("choices") or ()),
        # A row read by a query that does not select them (or from before migration 0031) has no details.
        cached_input_tokens=row.get("cached_input_tokens") or 0,
        reasoning_tokens=row.get("reasoning_tokens") or 0,
        system_fingerprint=row.get("system_fingerprint"),
    )


def _price_used(terms: Mapping[str, Any] | None, model_id: str) -> PriceUsed | None:
    """The answering model's multipliers as recorded at admission (None for jobs admitted before terms were
    recorded, which were priced from the catalogue of their settlement)."""
    recorded = (terms or {}).get(model_id)
    if not recorded:
        return None
    # Terms recorded before cache reads were priced apart priced them at the input price.
    cached = recorded.get("cached_input", recorded["input"])
    return PriceUsed(input=recorded["input"], output=recorded["output"], cached_input=cached)


async def recorded_jobs(conn: AsyncConnection, job_ids: Sequence[str]) -> set[str]:
    """The ids among `job_ids` the ledger has recorded (admitted, refused or finished): those it has seen."""
    if not job_ids:
        return set()
    rows = await conn.execute(text("SELECT id FROM jobs WHERE id = ANY(:ids)"), {"ids": list(job_ids)})
    return {row.id for row in rows}


async def workspace_default_model(conn: AsyncConnection, workspace_id: str) -> str | None:
    """The model a workspace's requests use when they name none (None: the catalogue's default)."""
    row = (
        await conn.execute(text("SELECT default_model FROM workspaces WHERE id = :ws"), {"ws": workspace_id})
    ).first()
    return row.default_model if row is not None else None


@dataclass(frozen=True, slots=True)
class BalanceSummary:
    workspace_id: str
    balance_tokens: int
    available_tokens: int
    held_tokens: int
    spent_tokens: int
    credit_line_tokens: int
    tokens_per_bdt: int


async def balance_summary(conn: AsyncConnection, workspace_id: str) -> BalanceSummary | None:
    row = (
        await conn.execute(
            text(
                "SELECT w.credit_line_tokens, w.tokens_per_bdt, "
                "CAST(sum(a.balance) FILTER (WHERE a.kind = 'available') AS bigint) AS available, "
                "CAST(sum(a.balance) FILTER (WHERE a.kind = 'held') AS bigint) AS held, "
                "CAST(sum(a.balance) FILTER (WHERE a.kind = 'spent') AS bigint) AS spent "
                "FROM workspaces w JOIN ledger_accounts a ON a.workspace_id = w.id WHERE w.id = :ws "
                "GROUP BY w.id"
            ),
            {"ws": workspace_id},
        )
    ).first()
    if row is None:
        return None
    return BalanceSummary(
        workspace_id=workspace_id,
        balance_tokens=row.available + row.held,
        available_tokens=row.available,
        held_tokens=row.held,
        spent_tokens=row.spent,
        credit_line_tokens=row.credit_line_tokens,
        tokens_per_bdt=row.tokens_per_bdt,
    )


@dataclass(frozen=True, slots=True)
class SpendLine:
    """A key's spend in a period against its cap, as admission counts it (running jobs' holds included)."""

    cap_tokens: int | None
    used_tokens: int
    remaining_tokens: int | None


async def key_spend(
    conn: AsyncConnection, key_id: str, now: datetime, *, daily_cap: int | None, monthly_cap: int | None
) -> dict[str, SpendLine]:
    """Today's and this month's (UTC) spend of one key, with what its caps leave."""
    params = {"ids": [key_id], "day": limits.day_start_of(now), "month": limits.month_start_of(now)}
    row = (await conn.execute(limits.KEY_SPEND, params)).first()
    used = {"daily": row.day if row else 0, "monthly": row.month if row else 0}
    lines = {}
    for period, cap in (("daily", daily_cap), ("monthly", monthly_cap)):
        lines[period] = SpendLine(cap, used[period], None if cap is None else max(0, cap - used[period]))
    return lines


@dataclass(frozen=True, slots=True)
class UsageLine:
    model_id: str
    api_key_id: str
    jobs: int
    input_tokens: int
    output_tokens: int
    cost_tokens: int


async def usage(
    conn: AsyncConnection,
    workspace_id: str,
    *,
    since: datetime | None,
    until: datetime | None,
    tag: str | None,
    model_id: str | None,
) -> list[UsageLine]:
    """Finished jobs' usage and cost by answering model and key, optionally for one tag or model."""
    rows = await conn.execute(
        text(
            "SELECT coalesce(answered_by, model_id) AS model_id, api_key_id, count(*) AS jobs, "
            "CAST(sum(input_tokens) AS bigint) AS input_tokens, CAST(sum(output_tokens) AS bigint) AS output_tokens, "
            "CAST(sum(cost_tokens) AS bigint) AS cost_tokens FROM jobs "
            "WHERE workspace_id = :ws AND status = 'completed' "
            "AND (CAST(:since AS timestamptz) IS NULL OR finished_at >= :since) "
            "AND (CAST(:until AS timestamptz) IS NULL OR finished_at < :until) "
            "AND (CAST(:tag AS text) IS NULL OR :tag = ANY(tags)) "
            "AND (CAST(:model AS text) IS NULL OR coalesce(answered_by, model_id) = :model) "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        ),
        {"ws": workspace_id, "since": since, "until": until, "tag": tag, "model": model_id},
    )
    return [UsageLine(**row._mapping) for row in rows]


@dataclass(frozen=True, slots=True)
class WorkspaceView:
    """A workspace's settings as operators and ingress read them."""

    id: str
    name: str
    default_model: str | None
    credit_line_tokens: int
    tokens_per_bdt: int
    rpm_max: int | None
    tpm_max: int | None
    suspended: bool
    revision: int
    created_at: datetime
    guardrails: dict[str, Any] | None = None


_WORKSPACE_COLUMNS = (
    "id, name, default_model, credit_line_tokens, tokens_per_bdt, rpm_max, tpm_max, "
    "suspended_at IS NOT NULL AS suspended, revision, created_at, guardrails"
)


async def workspace(conn: AsyncConnection, workspace_id: str) -> WorkspaceView | None:
    row = (
        await conn.execute(
            text(f"SELECT {_WORKSPACE_COLUMNS} FROM workspaces WHERE id = :id"),  # noqa: S608
            {"id": workspace_id},
        )
    ).first()
    return WorkspaceView(**row._mapping) if row is not None else None


async def workspaces(conn: AsyncConnection, *, after_id: str | None, limit: int) -> list[WorkspaceView]:
    """Workspaces in id order, a page at a time (`after_id` is the last id of the previous page)."""
    rows = await conn.execute(
        text(
            f"SELECT {_WORKSPACE_COLUMNS} FROM workspaces "  # noqa: S608
            "WHERE CAST(:after AS text) IS NULL OR id > :after ORDER BY id LIMIT :limit"
        ),
        {"after": after_id, "limit": limit},
    )
    return [WorkspaceView(**row._mapping) for row in rows]
