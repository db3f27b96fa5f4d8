"""Finance wire formats: the events the ledger publishes about money paid in and balances crossing thresholds.

Published on `finance.events`, keyed by workspace id, after the transaction that caused them commits (the
`finance_events` table is their outbox and history). `job_id` carries the top-up id where there is one.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from schemas.events import Envelope

FINANCE_EVENTS = "finance.events"
FINANCE_PARTITIONS = 8


class TopupSucceeded(Envelope):
    """A top-up was paid (or invoiced) and its tokens credited."""

    type: Literal["topup.succeeded"] = "topup.succeeded"
    version: Literal[1] = 1
    topup_id: str
    origin: Literal["manual", "auto"]
    method: str
    amount_paisa: int
    tokens: int
    rate_version_id: int
    attempt: int
    balance_tokens: int


class TopupFailed(Envelope):
    """A payment attempt failed; `will_retry` says whether the ledger will try again (auto top-ups)."""

    type: Literal["topup.failed"] = "topup.failed"
    version: Literal[1] = 1
    topup_id: str
    origin: Literal["manual", "auto"]
    method: str
    amount_paisa: int
    attempt: int
    reason: str
    will_retry: bool
    next_attempt_at: str | None = None


class BalanceThresholdCrossed(Envelope):
    """The balance fell below a threshold (an alert, or the auto top-up's trigger) while it was armed."""

    type: Literal["balance.threshold_crossed"] = "balance.threshold_crossed"
    version: Literal[1] = 1
    threshold_id: int | None
    kind: Literal["absolute", "percent_of_last_topup", "auto_topup"]
    threshold_tokens: int
    balance_before_tokens: int
    balance_after_tokens: int


FinanceEvent = TopupSucceeded | TopupFailed | BalanceThresholdCrossed


class DebitsByModel(BaseModel):
    model: str | None
    entries: int
    tokens: int


class StatementBody(BaseModel):
    """`GET /api/v1/ledger/statement`: opening + topups - debits + refunds + adjustments (+ other) = closing."""

    workspace_id: str
    since: str | None
    until: str | None
    opening_balance_tokens: int
    topups_tokens: int
    debits_tokens: int
    refunds_tokens: int
    adjustments_tokens: int
    other_tokens: int
    closing_balance_tokens: int
    debits_by_model: list[DebitsByModel]


class EntryPosting(BaseModel):
    account: str
    amount: int


class LedgerEntry(BaseModel):
    id: int
    created_at: str
    kind: str
    job_id: str | None
    balance_delta_tokens: int
    postings: list[EntryPosting]
    detail: dict[str, Any] | None


class EntriesPage(BaseModel):
    data: list[LedgerEntry]
    next_cursor: str | None


class UsageRow(BaseModel):
    day: str
    model: str | None
    api_key_id: str | None
    tag: str | None
    jobs: int
    input_tokens: int
    output_tokens: int
    cost_tokens: int


class UsageByDay(BaseModel):
    data: list[UsageRow]


class TopupView(BaseModel):
    id: str
    amount_paisa: int
    tokens: int
    rate_version_id: int
    tokens_per_bdt: str
    method: str
    origin: str
    status: Literal["pending", "succeeded", "failed"]
    failure_reason: str | None
    attempts: int
    next_attempt_at: str | None
    created_at: str
    updated_at: str
    invoice_id: str | None
    invoice_status: str | None


class TopupsPage(BaseModel):
    data: list[TopupView]
    next_cursor: str | None


class AlertEvent(BaseModel):
    id: int
    type: str
    payload: dict[str, Any]
    created_at: str
    published_at: str | None


class AlertsPage(BaseModel):
    data: list[AlertEvent]
    next_cursor: str | None
