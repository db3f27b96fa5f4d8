"""Finance wire formats: the events the ledger publishes about money paid in and balances crossing thresholds.

Published on `finance.events`, keyed by workspace id, after the transaction that caused them commits (the
`finance_events` table is their outbox and history). `job_id` carries the top-up id where there is one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.events import Envelope
from schemas.webhooks import CreateWebhook, DeleteWebhook, RedeliverWebhook, RotateWebhookSecret, UpdateWebhook

FINANCE_EVENTS = "finance.events"
FINANCE_PARTITIONS = 8
# PostgreSQL's bigint. A command's integer outside it is refused where the command is made, naming its field:
# no integer the book cannot store travels to the ledger, whose rules (`ledger.finance_domain`) then bound each
# amount far tighter.
BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1
BigInt = Annotated[int, Field(strict=True, ge=BIGINT_MIN, le=BIGINT_MAX)]


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


# Commands: what an ingress route (or the admin CLI) asks the ledger to do with money, carried on
# `ledger.commands` keyed by workspace. Each is executed by `ledger.finance_commands.execute`, idempotently.
class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RequestTopup(_Command):
    """`POST /api/v1/topups`: exactly one of amount_paisa (integer) or amount_bdt ("250.50")."""

    action: Literal["topup.request"] = "topup.request"
    amount_paisa: BigInt | None = None
    amount_bdt: str | None = Field(default=None, max_length=32)
    method: str = Field(default="invoice", max_length=32)
    idempotency_key: str = Field(min_length=1, max_length=255)


class MarkInvoicePaid(_Command):
    action: Literal["invoice.mark_paid"] = "invoice.mark_paid"
    invoice_id: str = Field(min_length=1, max_length=64)


class PublishRate(_Command):
    """Admin: a new exchange-rate version, for the workspace (`platform` false) or the platform default."""

    action: Literal["rate.publish"] = "rate.publish"
    platform: bool = Field(default=False, strict=True)
    tokens_per_bdt: str = Field(max_length=32)
    effective_at: datetime | None = None
    reason: str = Field(min_length=1, max_length=500)


class PublishPrice(_Command):
    action: Literal["price.publish"] = "price.publish"
    model_id: str = Field(min_length=1, max_length=128)
    input_multiplier: str = Field(max_length=32)
    output_multiplier: str = Field(max_length=32)
    cached_input_multiplier: str | None = Field(default=None, max_length=32)
    effective_at: datetime | None = None


class SetAutoTopup(_Command):
    action: Literal["auto_topup.set"] = "auto_topup.set"
    threshold_tokens: BigInt
    amount_paisa: BigInt | None = None
    amount_bdt: str | None = Field(default=None, max_length=32)
    method: str = Field(default="invoice", max_length=32)
    enabled: bool = Field(default=True, strict=True)


class AddAlertThreshold(_Command):
    action: Literal["alert_threshold.add"] = "alert_threshold.add"
    kind: Literal["absolute", "percent_of_last_topup"]
    threshold_tokens: BigInt | None = None
    percent: BigInt | None = None

    @model_validator(mode="after")
    def _one_measure_for_its_kind(self) -> AddAlertThreshold:
        # A field of the other kind was stored as nothing while the answer echoed it: refused instead.
        other = "percent" if self.kind == "absolute" else "threshold_tokens"
        if getattr(self, other) is not None:
            raise ValueError(f"'{other}' does not belong to a threshold of kind '{self.kind}'")
        return self


class RemoveAlertThreshold(_Command):
    action: Literal["alert_threshold.remove"] = "alert_threshold.remove"
    threshold_id: BigInt


class RefundJob(_Command):
    """Admin: reverse a completed job's charge in full."""

    action: Literal["refund"] = "refund"
    job_id: str = Field(min_length=1, max_length=128)
    reason: str = Field(min_length=1, max_length=500)


class Adjust(_Command):
    """Admin: credit (tokens > 0) or debit (tokens < 0) the workspace, with a reason."""

    action: Literal["adjustment"] = "adjustment"
    tokens: BigInt
    reason: str = Field(min_length=1, max_length=500)
    idempotency_key: str = Field(min_length=1, max_length=255)


class SetWebhook(_Command):
    """The workspace's webhook for finance events: URL and its Standard Webhooks secret (`whsec_...`)."""

    action: Literal["webhook.set"] = "webhook.set"
    url: str = Field(min_length=8, max_length=2048)
    secret: str = Field(min_length=10, max_length=200)


class RemoveWebhook(_Command):
    action: Literal["webhook.remove"] = "webhook.remove"


FinanceCommand = Annotated[
    RequestTopup
    | MarkInvoicePaid
    | PublishRate
    | PublishPrice
    | SetAutoTopup
    | AddAlertThreshold
    | RemoveAlertThreshold
    | RefundJob
    | Adjust
    | SetWebhook
    | RemoveWebhook
    | CreateWebhook
    | UpdateWebhook
    | DeleteWebhook
    | RotateWebhookSecret
    | RedeliverWebhook,
    Field(discriminator="action"),
]
# Actions only the admin credential may ask for; a workspace key may ask for the others in its own workspace.
ADMIN_ACTIONS = frozenset({"invoice.mark_paid", "rate.publish", "price.publish", "refund", "adjustment"})
