"""Response models of the routes that answer plain dicts, so the OpenAPI document types every answer.

Each model is the exact shape its route sends (the routes build these dicts from the ledger's and the key
store's views); the newman run of the Postman collection checks every real answer against these schemas.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from schemas.api import AnswerUsage
from schemas.chat_options import ResultChoice, ToolCall
from schemas.finance import TopupView
from schemas.results import JobError


class BalanceLine(BaseModel):
    workspace_id: str
    balance_tokens: int
    available_tokens: int
    held_tokens: int
    spent_tokens: int
    credit_line_tokens: int
    tokens_per_bdt: int


class Workspace(BaseModel):
    """A workspace's settings and, when it has ledger accounts, its balance."""

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
    balance: BalanceLine | None
    # The workspace's guardrails as configured (README, Guardrails), or null.
    guardrails: dict[str, Any] | None = None


class WorkspaceCreated(Workspace):
    """A new workspace; `api_key` (shown once) and `api_key_id` unless it was created `with_key: false`."""

    granted_tokens: int
    api_key: str | None = None
    api_key_id: str | None = None


class WorkspaceSummary(BaseModel):
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


class WorkspacesPage(BaseModel):
    data: list[WorkspaceSummary]
    next_after: str | None


class GrantAnswer(BaseModel):
    workspace_id: str
    granted_tokens: int
    balance: int | None


class KeyMinted(BaseModel):
    """A new key: `key` is its secret, in this answer only; `api_key` is the same secret under the name workspace
    creation gives it."""

    id: str
    workspace_id: str
    name: str
    scopes: list[str]
    expires_at: str | None
    allowed_models: list[str] | None
    max_tokens_max: int | None
    rpm_max: int | None
    tpm_max: int | None
    daily_spend_max_tokens: int | None
    monthly_spend_max_tokens: int | None
    # The key's own guardrails (README, Guardrails), applied with its workspace's; or null.
    guardrails: dict[str, Any] | None = None
    key: str
    api_key: str


class KeyRotated(KeyMinted):
    """The successor key; the old one (`replaces`) keeps working for `old_key_valid_for_s` seconds."""

    replaces: str
    old_key_valid_for_s: float


class KeyInfo(BaseModel):
    """A key as its workspace sees it: never the secret."""

    id: str
    name: str
    last4: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    rotated_at: datetime | None
    replaced_by: str | None
    scopes: list[str]
    allowed_models: list[str] | None
    max_tokens_max: int | None
    rpm_max: int | None
    tpm_max: int | None
    daily_spend_max_tokens: int | None
    monthly_spend_max_tokens: int | None
    guardrails: dict[str, Any] | None = None


class KeysPage(BaseModel):
    data: list[KeyInfo]
    # Whose keys these are: a `manage`-only key cannot read the balance, so this is how it learns its workspace.
    workspace_id: str | None = None


class WorkspaceGuardrailsView(BaseModel):
    """The calling key's workspace's guardrails as configured (README, Guardrails), or null when it has none."""

    workspace_id: str
    guardrails: dict[str, Any] | None
    # The workspace's settings revision this answer reflects.
    revision: int


class KeyGuardrailsView(BaseModel):
    """One key's own guardrails as configured (README, Guardrails), applied with its workspace's; null when none."""

    key_id: str
    workspace_id: str
    guardrails: dict[str, Any] | None
    # What the key's parent (the key that minted it, or the operator) imposed: a workspace's keys may add to
    # these, never remove them; null when nothing is imposed.
    imposed: dict[str, Any] | None
    # The key's revision this answer reflects (every change of the key bumps it).
    revision: int


class SpendLine(BaseModel):
    cap_tokens: int | None
    used_tokens: int
    remaining_tokens: int | None


class KeySpend(BaseModel):
    key_id: str
    daily: SpendLine
    monthly: SpendLine


class AutoTopupState(BaseModel):
    threshold_tokens: int
    amount_paisa: int
    # The same amount as a BDT decimal with two places ("500.00").
    amount_bdt: str
    method: str
    enabled: bool
    armed: bool
    fired_times: int


class AlertThresholdState(BaseModel):
    id: int
    kind: str
    threshold_tokens: int | None
    percent: int | None
    armed: bool


class RateInForce(BaseModel):
    version_id: int
    scope: Literal["platform", "workspace"]
    tokens_per_bdt: str
    effective_at: str


class Balance(BalanceLine):
    """`GET /balance`: the balance, spend, the last top-up, auto top-up, alerts, rate and the key's caps."""

    spent_today_tokens: int
    spent_this_month_tokens: int
    last_topup: TopupView | None
    auto_topup: AutoTopupState | None
    alert_thresholds: list[AlertThresholdState]
    rate: RateInForce
    key_spend: KeySpend


class UsageLine(BaseModel):
    model_id: str
    api_key_id: str
    jobs: int
    input_tokens: int
    output_tokens: int
    cost_tokens: int


class UsageTotals(BaseModel):
    jobs: int
    input_tokens: int
    output_tokens: int
    cost_tokens: int


class UsageReport(BaseModel):
    data: list[UsageLine]
    totals: UsageTotals


class Job(BaseModel):
    """A job: `queued` or `running` while it runs; once `completed` it carries the synchronous answer's fields,
    once failed (or rejected, expired) its `error` and the `balance_left` after its hold was released."""

    id: str
    status: str
    model: str
    tags: list[str] | None = None
    answer: str | None = None
    usage: AnswerUsage | None = None
    balance_left: int | None = None
    provider: str | None = None
    finish_reason: str | None = None
    cost: int | None = None
    error: JobError | None = None
    # Additive, as on the synchronous answer: set when the answer has more than `answer` says.
    tool_calls: list[ToolCall] | None = None
    choices: list[ResultChoice] | None = None
    # What the workspace's guardrails did to the prompt (e.g. `{"redacted": {"email": 1}}`), when anything.
    guardrails: dict[str, Any] | None = None


class TopupAnswer(BaseModel):
    """A top-up as recorded; `replayed` when the same `Idempotency-Key` already bought it."""

    id: str
    workspace_id: str
    amount_paisa: int
    tokens: int
    rate_version_id: int
    method: str
    origin: str
    status: Literal["pending", "succeeded", "failed"]
    failure_reason: str | None
    attempts: int
    next_attempt_at: str | None
    created_at: str
    replayed: bool


class AutoTopupSettings(BaseModel):
    """The auto top-up as stored, the same object `GET /api/v1/balance` shows as `auto_topup`. Both amounts are
    always given; they stay optional in this schema only because earlier answers could leave one of them null."""

    threshold_tokens: int
    amount_paisa: int | None = None
    amount_bdt: str | None = None
    method: str = "invoice"
    enabled: bool
    armed: bool
    fired_times: int


class AutoTopupAnswer(BaseModel):
    auto_topup: AutoTopupSettings


class AlertThresholdCreated(BaseModel):
    id: int
    kind: Literal["absolute", "percent_of_last_topup"]
    threshold_tokens: int | None = None
    percent: int | None = None


class Removed(BaseModel):
    removed: Literal[True]


class AlertThresholdRemoved(Removed):
    id: int


class WebhookEndpoint(BaseModel):
    """Where finance events are POSTed, and the `whsec_` secret their signatures use."""

    # The endpoint's id among the workspace's webhook endpoints (`/api/v1/webhooks/{id}`).
    id: str | None = None
    url: str
    secret: str


class InvoicePaid(BaseModel):
    invoice_id: str
    paid: bool


class Correction(BaseModel):
    """A refund or an adjustment: its journal entry's key, the tokens moved and the balance after it."""

    entry: str
    tokens: int
    balance_tokens: int
    replayed: bool


class RateVersion(BaseModel):
    version_id: int
    scope: Literal["platform", "workspace"]
    tokens_per_bdt: str
    effective_at: str


class RatePublished(BaseModel):
    rate: RateVersion


class PriceVersion(BaseModel):
    version_id: int
    model_id: str
    input_multiplier: str
    output_multiplier: str
    cached_input_multiplier: str
    effective_at: str


class PricePublished(BaseModel):
    price: PriceVersion


# --- the OpenAI-compatible surface: OpenAI's shapes, plus the Luntrex receipt ------------------------------


class OpenAIAnswerMessage(BaseModel):
    role: Literal["assistant"]
    content: str | None
    refusal: str | None


class OpenAIChoice(BaseModel):
    index: int
    message: OpenAIAnswerMessage
    logprobs: None
    finish_reason: str


class OpenAIPromptTokensDetails(BaseModel):
    cached_tokens: int
    audio_tokens: int


class OpenAICompletionTokensDetails(BaseModel):
    reasoning_tokens: int
    audio_tokens: int
    accepted_prediction_tokens: int
    rejected_prediction_tokens: int


class OpenAIUsage(BaseModel):
    """OpenAI's usage; the details are always there, 0 where the provider told nothing (audio and predicted
    outputs are never used here)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: OpenAIPromptTokensDetails
    completion_tokens_details: OpenAICompletionTokensDetails


class OpenAIChatCompletion(BaseModel):
    """A `chat.completion` object, with `provider`, `balance_left` and `cost` as extra fields."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[OpenAIChoice]
    usage: OpenAIUsage
    # Always "default": the only tier the gateway asks for (a request may say "auto" or "default").
    service_tier: Literal["default"]
    # The answering backend's configuration, as OpenAI reports it; null when the provider gave none.
    system_fingerprint: str | None
    provider: str | None
    balance_left: int
    cost: int


class OpenAIModel(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class OpenAIModelList(BaseModel):
    object: Literal["list"]
    data: list[OpenAIModel]


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str


class OpenAIErrorBody(BaseModel):
    """OpenAI's error envelope (the SDKs raise their usual exceptions), plus the status and request id."""

    error: OpenAIErrorDetail
    status: int
    request_id: str
    retry_after: int | None = None
