"""Admission limits: requests and tokens per minute per key and per workspace, and daily/monthly spend caps per key.

Every request of a workspace is admitted by one owner (the admission partition of that workspace), inside a
transaction that has locked the workspace's accounts; the counters here are read and written in that same
transaction, so the limits are exact however many ingress replicas accept requests.

- Windows are fixed calendar minutes (UTC) of the ledger's clock: at most `rpm_max` jobs and `tpm_max` tokens
  are admitted per subject (a key, a workspace) between hh:mm:00 and hh:mm+1:00. A job's tokens are its upper
  bound: the input estimate plus its `max_tokens`, counted when it is admitted (never given back). A refused
  job answers `rate_limit_exceeded` (429) with `retry_after_s` to the window's end, and counts nothing.
- Spend caps count, per key, the credit tokens of the jobs admitted in the UTC day (month): a finished job's
  cost, a running job's whole hold, over the key's rotation chain (a rotated key's spend counts for its successor,
  and the other way round while both are valid). Holds count, so racing requests can never together pass a cap; a job
  whose hold would take the key over a cap answers `spend_cap_reached` (403).

The limits are read from `api_keys` and `workspaces` in the admission transaction (admission reads them with the
price book in one round trip, ledger/admission_reads.py), so a limit changed by an administrator applies to the
very next admission. What was used (windows, spend) is read after the accounts are locked, and only for a batch
that meets a limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from schemas.errors import ErrorCode

WINDOW_S = 60


@dataclass(frozen=True, slots=True)
class Limited:
    """What admission needs of one job to apply the limits."""

    workspace_id: str
    api_key_id: str
    tokens: int
    hold: int


@dataclass(frozen=True, slots=True)
class Rate:
    rpm_max: int | None
    tpm_max: int | None


@dataclass(frozen=True, slots=True)
class Caps:
    daily_max: int | None
    monthly_max: int | None


@dataclass(slots=True)
class Counter:
    requests: int = 0
    tokens: int = 0


@dataclass(slots=True)
class Spend:
    day: int = 0
    month: int = 0


@dataclass(slots=True)
class LimitBook:
    """The limits and the counters of one batch's keys and workspaces, moved as jobs are admitted."""

    now: datetime
    window_start: datetime
    rates: dict[str, Rate] = field(default_factory=dict)
    caps: dict[str, Caps] = field(default_factory=dict)
    counters: dict[str, Counter] = field(default_factory=dict)
    spend: dict[str, Spend] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)
    # `load_usage` read the counters and spend in this transaction, after the accounts' lock (admission need not
    # read them again: the batch feeder reads them to see which lines must wait, then hands the book on).
    usage_loaded: bool = False

    def copy(self) -> LimitBook:
        """A book to try jobs against without moving this one's counters (the feeder's screening)."""
        return LimitBook(
            now=self.now,
            window_start=self.window_start,
            rates=self.rates,
            caps=self.caps,
            counters={s: Counter(c.requests, c.tokens) for s, c in self.counters.items()},
            spend=_copied_spend(self.spend),
            touched=set(self.touched),
            usage_loaded=self.usage_loaded,
        )

    def refusal(self, job: Limited) -> dict[str, Any] | None:
        """Why this job may not be admitted now ({"code", "message", ...}), or None."""
        for subject, what in ((key_subject(job.api_key_id), "key"), (workspace_subject(job.workspace_id), "workspace")):
            rate = self.rates.get(subject)
            if rate is None:
                continue
            if rate.tpm_max is not None and job.tokens > rate.tpm_max:
                return {
                    "code": ErrorCode.INVALID_REQUEST.value,
                    "message": f"this request may use {job.tokens} tokens, more than the {what}'s limit of "
                    f"{rate.tpm_max} tokens per minute; lower max_tokens or the prompt",
                }
            counter = self.counters.setdefault(subject, Counter())
            if rate.rpm_max is not None and counter.requests + 1 > rate.rpm_max:
                return self._too_many(f"the {what}'s limit of {rate.rpm_max} requests per minute is reached")
            if rate.tpm_max is not None and counter.tokens + job.tokens > rate.tpm_max:
                return self._too_many(
                    f"the {what}'s limit of {rate.tpm_max} tokens per minute is reached "
                    f"({counter.tokens} used, this request may use {job.tokens})"
                )
        return self._over_cap(job)

    def count(self, job: Limited) -> None:
        """Record an admitted job in its key's and workspace's window and its key's spend."""
        for subject in (key_subject(job.api_key_id), workspace_subject(job.workspace_id)):
            if subject in self.rates:
                counter = self.counters.setdefault(subject, Counter())
                counter.requests += 1
                counter.tokens += job.tokens
                self.touched.add(subject)
        spend = self.spend.get(job.api_key_id)
        if spend is not None:
            spend.day += job.hold
            spend.month += job.hold

    def reopens_at(self, job: Limited, refusal: dict[str, Any]) -> datetime | None:
        """When a job refused now (`refusal`, from `refusal`) may pass if nothing else is admitted meanwhile: the
        window's end for a rate limit, the next UTC day (month) for a spend cap. None when waiting cannot help:
        another refusal, or a hold alone over the key's cap."""
        code = refusal.get("code")
        if code == ErrorCode.RATE_LIMIT_EXCEEDED.value:
            return self.window_start + timedelta(seconds=WINDOW_S)
        if code != ErrorCode.SPEND_CAP_REACHED.value:
            return None
        caps = self.caps.get(job.api_key_id)
        spend = self.spend.get(job.api_key_id)
        if caps is None or spend is None:
            return None
        if any(cap is not None and job.hold > cap for cap in (caps.daily_max, caps.monthly_max)):
            return None
        if caps.daily_max is not None and spend.day + job.hold > caps.daily_max:
            return day_start_of(self.now) + timedelta(days=1)
        return next_month_start_of(self.now)

    def _too_many(self, why: str) -> dict[str, Any]:
        window_end = self.window_start + timedelta(seconds=WINDOW_S)
        retry_after_s = max(1, math.ceil((window_end - self.now).total_seconds()))
        return {
            "code": ErrorCode.RATE_LIMIT_EXCEEDED.value,
            "message": f"rate limit exceeded: {why}; retry after {retry_after_s}s (nothing was charged)",
            "retry_after_s": retry_after_s,
        }

    def _over_cap(self, job: Limited) -> dict[str, Any] | None:
        caps = self.caps.get(job.api_key_id)
        spend = self.spend.get(job.api_key_id)
        if caps is None or spend is None:
            return None
        for period, cap, used in (("daily", caps.daily_max, spend.day), ("monthly", caps.monthly_max, spend.month)):
            if cap is not None and used + job.hold > cap:
                resets = "at 00:00 UTC" if period == "daily" else "on the 1st of next month (UTC)"
                return {
                    "code": ErrorCode.SPEND_CAP_REACHED.value,
                    "message": f"key {job.api_key_id} would pass its {period} spend cap of {cap} credit tokens "
                    f"({used} spent or held, this request holds {job.hold}); the cap resets {resets}",
                }
        return None


def _copied_spend(spend: dict[str, Spend]) -> dict[str, Spend]:
    """A copy of the keys' spend that keeps which keys share one counter (one rotation chain)."""
    copies: dict[int, Spend] = {}
    return {key_id: copies.setdefault(id(used), Spend(used.day, used.month)) for key_id, used in spend.items()}


def key_subject(key_id: str) -> str:
    return f"key:{key_id}"


def workspace_subject(workspace_id: str) -> str:
    return f"workspace:{workspace_id}"


def window_start_of(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def day_start_of(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def month_start_of(now: datetime) -> datetime:
    return day_start_of(now).replace(day=1)


def next_month_start_of(now: datetime) -> datetime:
    start = month_start_of(now)
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


_KEY_LIMITS = text(
    "SELECT id, rpm_max, tpm_max, daily_spend_max_tokens, monthly_spend_max_tokens FROM api_keys "
    "WHERE id = ANY(:ids) AND (rpm_max IS NOT NULL OR tpm_max IS NOT NULL "
    "OR daily_spend_max_tokens IS NOT NULL OR monthly_spend_max_tokens IS NOT NULL)"
)
_WORKSPACE_LIMITS = text(
    "SELECT id, rpm_max, tpm_max FROM workspaces WHERE id = ANY(:ids) AND (rpm_max IS NOT NULL OR tpm_max IS NOT NULL)"
)
_COUNTERS = text(
    "SELECT subject, requests, tokens FROM rate_windows WHERE subject = ANY(:subjects) AND window_start = :start"
)
# A key's spend is its rotation chain's: the key, the keys it replaced and the keys that replaced it
# (`api_keys.replaced_by`), so rotating a key never resets what it spent, and a key in its grace period and its
# successor share one budget. One row per key asked for, with the chain's first key (`root`: keys of one chain
# share a counter in the book) and the chain's spend. A running job counts its whole hold, a finished one its
# cost; a refused job holds and costs nothing.
KEY_SPEND = text(
    """
    WITH RECURSIVE ancestors(capped, id) AS (
        SELECT id, id FROM api_keys WHERE id = ANY(:ids)
        UNION
        SELECT a.capped, k.id FROM ancestors a JOIN api_keys k ON k.replaced_by = a.id
    ), roots AS (
        SELECT a.capped, a.id AS root FROM ancestors a
        WHERE NOT EXISTS (SELECT 1 FROM api_keys p WHERE p.replaced_by = a.id)
    ), chain(root, id) AS (
        SELECT DISTINCT root, root FROM roots
        UNION
        SELECT c.root, k.replaced_by FROM chain c JOIN api_keys k ON k.id = c.id WHERE k.replaced_by IS NOT NULL
    ), spent AS (
        SELECT c.root,
               CAST(coalesce(sum(CASE WHEN j.status = 'queued' THEN j.hold_tokens ELSE j.cost_tokens END)
                             FILTER (WHERE j.created_at >= :day), 0) AS bigint) AS day,
               CAST(coalesce(sum(CASE WHEN j.status = 'queued' THEN j.hold_tokens ELSE j.cost_tokens END), 0)
                    AS bigint) AS month
        FROM chain c LEFT JOIN jobs j ON j.api_key_id = c.id AND j.created_at >= :month
        GROUP BY c.root
    )
    SELECT r.capped AS api_key_id, r.root, s.day, s.month FROM roots r JOIN spent s USING (root)
    """
)
_SAVE_COUNTERS = text(
    """
    INSERT INTO rate_windows (subject, window_start, requests, tokens)
    SELECT c.subject, :start, c.requests, c.tokens
    FROM unnest(CAST(:subjects AS text[]), CAST(:requests AS integer[]), CAST(:tokens AS bigint[]))
         AS c(subject, requests, tokens)
    ON CONFLICT (subject, window_start) DO UPDATE SET requests = excluded.requests, tokens = excluded.tokens
    """
)
# Past windows are never read again.
_FORGET_PAST = text("DELETE FROM rate_windows WHERE subject = ANY(:subjects) AND window_start < :start")


@dataclass(frozen=True, slots=True)
class Configured:
    """The limits an api key or a workspace has (a workspace has no spend caps)."""

    id: str
    rpm_max: int | None
    tpm_max: int | None
    daily_spend_max_tokens: int | None = None
    monthly_spend_max_tokens: int | None = None


def book_of(now: datetime, keys: list[Configured], workspaces: list[Configured]) -> LimitBook:
    """A batch's limit book from the limits its keys and workspaces have (those with none may be left out)."""
    book = LimitBook(now=now, window_start=window_start_of(now))
    for key in keys:
        if key.rpm_max is not None or key.tpm_max is not None:
            book.rates[key_subject(key.id)] = Rate(key.rpm_max, key.tpm_max)
        if key.daily_spend_max_tokens is not None or key.monthly_spend_max_tokens is not None:
            book.caps[key.id] = Caps(key.daily_spend_max_tokens, key.monthly_spend_max_tokens)
    for workspace in workspaces:
        if workspace.rpm_max is not None or workspace.tpm_max is not None:
            book.rates[workspace_subject(workspace.id)] = Rate(workspace.rpm_max, workspace.tpm_max)
    return book


async def load(conn: AsyncConnection, jobs: list[Limited], now: datetime) -> LimitBook:
    """Read the limits of the batch's keys and workspaces, their current window and the capped keys' spend.

    Must run after the workspaces' accounts are locked and before the batch's jobs are recorded."""
    key_rows = await conn.execute(_KEY_LIMITS, {"ids": sorted({job.api_key_id for job in jobs})})
    keys = [
        Configured(row.id, row.rpm_max, row.tpm_max, row.daily_spend_max_tokens, row.monthly_spend_max_tokens)
        for row in key_rows
    ]
    workspace_rows = await conn.execute(_WORKSPACE_LIMITS, {"ids": sorted({job.workspace_id for job in jobs})})
    book = book_of(now, keys, [Configured(row.id, row.rpm_max, row.tpm_max) for row in workspace_rows])
    await load_usage(conn, book)
    return book


async def load_usage(conn: AsyncConnection, book: LimitBook) -> None:
    """Read what the book's limited subjects used: their current window and the capped keys' spend (nothing to
    read, and no round trip, when the batch meets no limit).

    Must run after the workspaces' accounts are locked and before the batch's jobs are recorded."""
    book.usage_loaded = True
    if book.rates:
        rows = await conn.execute(_COUNTERS, {"subjects": sorted(book.rates), "start": book.window_start})
        book.counters = {row.subject: Counter(row.requests, row.tokens) for row in rows}
    if book.caps:
        book.spend = {key_id: Spend() for key_id in book.caps}
        params = {"ids": sorted(book.caps), "day": day_start_of(book.now), "month": month_start_of(book.now)}
        # Keys of one rotation chain share one Spend: a job admitted under either moves both keys' count.
        chains: dict[str, Spend] = {}
        for row in await conn.execute(KEY_SPEND, params):
            book.spend[row.api_key_id] = chains.setdefault(row.root, Spend(row.day, row.month))


async def save(conn: AsyncConnection, book: LimitBook) -> None:
    """Write the windows this batch moved (and drop their past windows)."""
    if not book.touched:
        return
    subjects = sorted(book.touched)
    await conn.execute(
        _SAVE_COUNTERS,
        {
            "start": book.window_start,
            "subjects": subjects,
            "requests": [book.counters[s].requests for s in subjects],
            "tokens": [book.counters[s].tokens for s in subjects],
        },
    )
    await conn.execute(_FORGET_PAST, {"subjects": subjects, "start": book.window_start})
