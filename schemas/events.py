"""Kafka events: one versioned envelope, past-tense facts, JSON on the wire.

Every event carries its own id, a type tag that includes the schema version, the time it happened, the
workspace and job it concerns, and W3C trace context, so any consumer can dedupe, route and trace it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from schemas.api import RoutingHints
from schemas.chat_options import ChatOptions, ResultChoice, ToolCall, ToolCallDelta
from schemas.guardrails import OutputChecks
from schemas.results import JobError, JobResult

__all__ = ["JobError", "JobResult"]


def new_event_id() -> str:
    return uuid.uuid4().hex


def utc_now() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """Fields every event has; subclasses pin `type` and `version`.

    Unknown fields are ignored, never refused: during a rolling upgrade a newer producer may add fields that
    an older consumer must still be able to read.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)
    event_id: str = Field(default_factory=new_event_id)
    occurred_at: datetime = Field(default_factory=utc_now)
    workspace_id: str
    job_id: str
    traceparent: str | None = None


class PromptMessage(BaseModel):
    """A message as workers pass it to a provider: role and flattened text; an assistant's tool calls, a tool
    result's call id, image URLs (in order, after the text) and OpenAI's participant name when the message had
    them."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    images: tuple[str, ...] = ()
    name: str | None = None

    @model_serializer(mode="wrap")
    def _compact(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A plain message encodes as before (role and content only): a job of many short messages stays within
        # the event size its request promised (ingress/submission.py), and older readers see the old shape.
        encoded: dict[str, Any] = handler(self)
        for name in ("tool_calls", "tool_call_id", "images", "name"):
            if not encoded.get(name):
                encoded.pop(name, None)
        return encoded


class ChatParameters(BaseModel):
    """What the caller asked for, validated and resolved by ingress."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    messages: tuple[PromptMessage, ...]
    max_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    routing: RoutingHints | None = None
    # The workspace's output guardrails, applied by the worker to the answer (schemas/guardrails.py).
    output_checks: OutputChecks | None = None
    # Stream the answer: the worker publishes `ChatStreamDelta`s on `jobs.stream` as the provider sends text.
    stream: bool = False
    # Tools, response_format, n, seed, penalties... (None: the caller set none of them).
    options: ChatOptions | None = None

    def choices(self) -> int:
        """How many choices the job asks for: each may use `max_tokens`, so the hold covers every one."""
        return self.options.n if self.options is not None else 1

    def output_tokens_bound(self) -> int:
        return self.max_tokens * self.choices()


class ChatJobSubmitted(Envelope):
    """Ingress accepted a request; the ledger must hold credit for it before anything is dispatched."""

    type: Literal["chat.job.submitted"] = "chat.job.submitted"
    version: Literal[1] = 1
    api_key_id: str
    model_id: str
    route: tuple[str, ...]
    lane: Literal["interactive", "batch"] = "interactive"
    input_tokens_estimate: int
    params: ChatParameters
    # When the job stops being worth running: workers drop it unrun after this, the ledger expires it.
    deadline_at: datetime | None = None
    # A workspace guardrail: the ledger refuses the job, before holding anything, if its hold would exceed it.
    max_cost_tokens: int | None = None
    # What the ingress's guardrails did to the prompt (e.g. {"redacted": {"email": 2}}), recorded on the job.
    guardrails: dict[str, Any] | None = None
    # A per-request webhook: the workspace's endpoint this job's job.completed / job.failed also goes to.
    webhook_endpoint_id: str | None = None
    # Whether ingress sent this job an early start (`ChatJobEarlyStart`): True when it did or may have (the send
    # was allowed but could still be lost), False only when it certainly sent none. Three states, not a bool
    # defaulting to True: None says "not told" (an ingress older than this field, a test's or a batch line's job),
    # which a reader can tell apart from an ingress that did send one. (The ledger used it to send a streamed job's
    # `ChatJobHeld` notice only when not False; every stream gets the notice now, ledger/admission.py `held_notice`.)
    # Left out when None: an older producer's events, and every stored batch line, keep their shape and size.
    early_start: bool | None = Field(default=None, exclude_if=lambda sent: sent is None)


class ChatJobDispatched(Envelope):
    """The ledger holds `hold_tokens` for this job; a model pool may now call the provider."""

    type: Literal["chat.job.dispatched"] = "chat.job.dispatched"
    version: Literal[1] = 1
    model_id: str
    route: tuple[str, ...]
    hold_tokens: int
    params: ChatParameters
    lane: Literal["interactive", "batch"] = "interactive"
    deadline_at: datetime | None = None


class ChatJobHeld(Envelope):
    """The ledger held a streamed job's credit (`jobs.stream`, keyed by job id, published with its dispatch).

    Ingress starts the stream on it (200 and SSE keep-alives until the first delta), so refusals before the hold
    keep their HTTP status and a slow first token does not leave the caller with silence. A stream that had an early
    start (workers/early_start.py) may have deltas on `jobs.stream` before its hold: ingress sends the caller none of
    them until this notice (or the job's result) arrives. Published for every streamed job.
    """

    type: Literal["chat.job.held"] = "chat.job.held"
    version: Literal[1] = 1

    @staticmethod
    def is_one(payload: bytes) -> bool:
        """Whether a `jobs.stream` record is a notice rather than a delta (without decoding it)."""
        return b'"type":"chat.job.held"' in payload


class ChatJobEarlyStart(BaseModel):
    """A copy of a submitted job sent by ingress straight to its worker lane, beside `jobs.submitted`, keyed by
    job id like its dispatch (so it lands on the same partition, ahead of it). The worker may start the provider
    call at once, but nothing of it leaves the worker before the ledger's `ChatJobDispatched` for the same job
    (the hold committed): workers/early_start.py.

    Not an `Envelope`: with no `job_id` of its own, a worker that does not know this type dead-letters it
    without reporting the job failed (runtime.consume.job_identity finds no job to fail).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)
    type: Literal["chat.job.early_start"] = "chat.job.early_start"
    version: Literal[1] = 1
    job: ChatJobSubmitted

    @staticmethod
    def wrap(submitted: bytes) -> bytes:
        """The early start of an encoded `ChatJobSubmitted`, built around its bytes (not encoded again)."""
        return b'{"type":"chat.job.early_start","version":1,"job":' + submitted + b"}"


class UsageRecorded(Envelope):
    """A worker finished a job: the provider's usage and answer, or the error that ended it."""

    type: Literal["chat.usage.recorded"] = "chat.usage.recorded"
    version: Literal[1] = 1
    # "expired" is the ledger's own verdict on a job that did not finish within its deadline.
    outcome: Literal["completed", "failed", "expired"]
    model_id: str | None = None
    provider: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    answer: str | None = None
    finish_reason: str | None = None
    error: JobError | None = None
    attempts: int = 1
    # The adapter estimated the counts (the provider reported none): billed, and flagged for finance.
    usage_estimated: bool = False
    # A streamed job: milliseconds from the start of the provider call that answered to its first text.
    first_token_ms: int | None = None

    # Every choice, when the answer has more than `answer` says (n > 1, tool calls, logprobs).
    choices: tuple[ResultChoice, ...] = ()
    # Details the provider gave of the counts: prompt tokens read from its cache (part of `input_tokens`, billed at
    # the job's recorded cached-input price), reasoning tokens (part of `output_tokens`, never billed apart), and
    # OpenAI's `system_fingerprint`. Left out when
    # unknown (0 or None), so a usage without them keeps an older worker's shape; an older ledger ignores them.
    cached_input_tokens: int = Field(default=0, exclude_if=lambda count: count == 0)
    reasoning_tokens: int = Field(default=0, exclude_if=lambda count: count == 0)
    system_fingerprint: str | None = Field(default=None, exclude_if=lambda text: text is None)


class ChatStreamDelta(Envelope):
    """A piece of a streamed job's answer, as the provider sent it (`jobs.stream`, keyed by job id).

    `run_id` names one execution of the job (a redelivered dispatch runs again under a new id) and `seq`
    numbers its deltas from 0, so a reader can tell a gap or a second run apart. Deltas are a preview: the
    answer that is billed and delivered last is the one in `UsageRecorded` and `JobFinished`.
    """

    type: Literal["chat.stream.delta"] = "chat.stream.delta"
    version: Literal[1] = 1
    run_id: str
    seq: int
    # A piece of the answer's text, or "" when the delta carries a piece of a tool call instead.
    text: str = ""
    # On the first delta: milliseconds from the start of the provider call to it.
    first_token_ms: int | None = None
    # Pieces of the tool calls the answer asks for (schemas.chat_options.ToolCallDelta). Left out of a text delta,
    # which keeps its old shape and size: one is sent per piece of every streamed answer.
    tool_calls: tuple[ToolCallDelta, ...] = Field(default=(), exclude_if=lambda calls: not calls)


class JobFinished(Envelope, JobResult):
    """The ledger settled a job (or refused it): its `JobResult` with the event envelope; what callers and
    webhooks are told. The wire shape is the result's fields, flat, beside the envelope's."""

    type: Literal["chat.job.finished"] = "chat.job.finished"
    version: Literal[1] = 1

    def result(self) -> JobResult:
        """The record alone, without the envelope."""
        return JobResult.model_validate(self.model_dump(include=set(JobResult.model_fields)))


class EventDeadLettered(BaseModel):
    """A consumer refused an event permanently; its original bytes are kept for an operator to inspect.

    Not an `Envelope`: a poison event may carry no readable job or workspace at all.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)
    type: Literal["event.dead_lettered"] = "event.dead_lettered"
    version: Literal[1] = 1
    event_id: str = Field(default_factory=new_event_id)
    occurred_at: datetime = Field(default_factory=utc_now)
    consumer: str
    source_topic: str
    source_partition: int | None = None
    source_offset: int | None = None
    key_b64: str | None = None
    value_b64: str
    value_bytes: int
    value_truncated: bool = False
    headers: list[tuple[str, str]] = Field(default_factory=list)
    reason: str
    job_id: str | None = None
    workspace_id: str | None = None


EventT = TypeVar("EventT", bound=BaseModel)


def encode(event: BaseModel) -> bytes:
    return event.model_dump_json().encode()


def decode(event_type: type[EventT], payload: bytes) -> EventT:
    return event_type.model_validate_json(payload)


Scope = Literal["inference", "billing", "manage"]


class KeyChanged(Envelope):
    """The newest state of one API key (ingress owns keys): every ingress replica applies it to its cache.

    Published on the compacted `keys.changes`, keyed by key id, after each mint, rotation and revocation;
    `revision` orders states of one key, so a replica never goes back to an older one.
    """

    type: Literal["key.changed"] = "key.changed"
    version: Literal[1] = 1
    job_id: str = ""
    key_id: str
    revision: int
    secret_sha256: str
    scopes: tuple[Scope, ...]
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    rotated_at: datetime | None = None
    allowed_models: tuple[str, ...] | None = None
    max_tokens_max: int | None = None
    rpm_max: int | None = None
    tpm_max: int | None = None
    daily_spend_max_tokens: int | None = None
    monthly_spend_max_tokens: int | None = None
    # The key's own guardrails (schemas.guardrails.Guardrails as JSON), applied with its workspace's; or None.
    guardrails: dict[str, Any] | None = None


class WorkspaceChanged(Envelope):
    """The newest state of one workspace (the ledger owns workspaces), on the compacted `workspaces.changes`."""

    type: Literal["workspace.changed"] = "workspace.changed"
    version: Literal[1] = 1
    job_id: str = ""
    revision: int
    name: str
    default_model: str | None = None
    credit_line_tokens: int = 0
    tokens_per_bdt: int = 500
    rpm_max: int | None = None
    tpm_max: int | None = None
    suspended: bool = False
    # The workspace's guardrails as configured (schemas.guardrails.Guardrails as JSON), or None.
    guardrails: dict[str, Any] | None = None


class WorkspaceCommandIssued(Envelope):
    """An operator asked the ledger to change a workspace or grant it credit (`ledger.commands`).

    `job_id` carries the command id: the ledger answers on `ledger.replies` keyed by it, and a grant's
    idempotency key is derived from it, so a redelivered command changes nothing twice.
    """

    type: Literal["workspace.command.issued"] = "workspace.command.issued"
    version: Literal[1] = 1
    action: Literal["create", "update", "suspend", "resume", "grant", "finance"]
    name: str | None = None
    default_model: str | None = None
    # An update sets only the fields it names (so `default_model` or a limit can be cleared with null).
    fields_set: tuple[str, ...] = ()
    credit_line_tokens: int | None = None
    rpm_max: int | None = None
    tpm_max: int | None = None
    grant_tokens: int | None = None
    grant_bdt: int | None = None
    reason: str | None = None
    # schemas.guardrails.Guardrails as JSON (validated by the ingress; {} clears them).
    guardrails: dict[str, Any] | None = None
    # action "finance": one `schemas.finance.FinanceCommand` as JSON, and who asked (a key id or "admin").
    finance: dict[str, Any] | None = None
    actor: str | None = None


class WorkspaceCommandAnswered(Envelope):
    """The ledger's answer to one command: the workspace after it, or why it was refused."""

    type: Literal["workspace.command.answered"] = "workspace.command.answered"
    version: Literal[1] = 1
    ok: bool
    error: JobError | None = None
    workspace: WorkspaceChanged | None = None
    granted_tokens: int = 0
    balance_tokens: int | None = None
    # A finance command's answer (`ledger.finance_commands.execute`).
    result: dict[str, Any] | None = None
