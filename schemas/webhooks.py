"""Webhook wire formats: the event types, the commands that manage endpoints (sent on `ledger.commands` in the
finance family), and the bodies `/api/v1/webhooks` answers.

A delivery's body is Standard Webhooks' recommended payload, `{"type", "timestamp", "data"}`; its
`webhook-id` is the event's id, the same on every retry and redelivery.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

JOB_COMPLETED = "job.completed"
JOB_FAILED = "job.failed"
BATCH_COMPLETED = "batch.completed"
FINANCE_EVENT_TYPES = ("topup.succeeded", "topup.failed", "balance.threshold_crossed")
JOB_EVENT_TYPES = (JOB_COMPLETED, JOB_FAILED)
EVENT_TYPES = (*JOB_EVENT_TYPES, BATCH_COMPLETED, *FINANCE_EVENT_TYPES)

URL_LENGTH_MAX = 2048
DESCRIPTION_LENGTH_MAX = 500
# A rotation's overlap: both secrets sign for at most a week.
GRACE_S_MAX = 7 * 86_400
ENDPOINTS_PER_WORKSPACE_MAX = 20

EventType = Literal[
    "job.completed", "job.failed", "batch.completed", "topup.succeeded", "topup.failed", "balance.threshold_crossed"
]
# `held`: waiting for its endpoint to be enabled again (a paused endpoint is neither attempted nor dead-lettered).
DeliveryState = Literal["pending", "held", "delivered", "dead"]


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CreateWebhook(_Command):
    """`POST /api/v1/webhooks`: a new endpoint; its secret is answered once."""

    action: Literal["webhook.create"] = "webhook.create"
    url: str = Field(min_length=1, max_length=URL_LENGTH_MAX)
    event_types: list[EventType] = Field(min_length=1, max_length=len(EVENT_TYPES))
    description: str = Field(default="", max_length=DESCRIPTION_LENGTH_MAX)
    enabled: bool = Field(default=True, strict=True)
    secret: str | None = Field(default=None, min_length=10, max_length=200)


class UpdateWebhook(_Command):
    """`PATCH /api/v1/webhooks/{id}`: the fields given change, the others stay."""

    action: Literal["webhook.update"] = "webhook.update"
    endpoint_id: str = Field(min_length=1, max_length=80)
    url: str | None = Field(default=None, min_length=1, max_length=URL_LENGTH_MAX)
    event_types: list[EventType] | None = Field(default=None, min_length=1, max_length=len(EVENT_TYPES))
    description: str | None = Field(default=None, max_length=DESCRIPTION_LENGTH_MAX)
    enabled: bool | None = Field(default=None, strict=True)


class DeleteWebhook(_Command):
    action: Literal["webhook.delete"] = "webhook.delete"
    endpoint_id: str = Field(min_length=1, max_length=80)


class RotateWebhookSecret(_Command):
    """A new secret now; the old one still signs (a second signature) for `grace_s` seconds."""

    action: Literal["webhook.rotate_secret"] = "webhook.rotate_secret"
    endpoint_id: str = Field(min_length=1, max_length=80)
    grace_s: int = Field(default=86_400, ge=0, le=GRACE_S_MAX, strict=True)


class RedeliverWebhook(_Command):
    """Queue a delivery again at once (the same `webhook-id`); its retry schedule starts over."""

    action: Literal["webhook.redeliver"] = "webhook.redeliver"
    delivery_id: int = Field(ge=1, le=2**63 - 1, strict=True)


class WebhookEndpointBody(BaseModel):
    id: str
    url: str
    event_types: list[str]
    description: str
    enabled: bool
    billing: bool
    created_at: str
    updated_at: str
    # Only in the answer that created the endpoint or rotated its secret.
    secret: str | None = None
    previous_secret_until: str | None = None


class WebhookEndpointsPage(BaseModel):
    data: list[WebhookEndpointBody]


class WebhookAttemptBody(BaseModel):
    attempt: int
    started_at: str
    status_code: int | None
    latency_ms: int
    error: str | None


class WebhookDeliveryBody(BaseModel):
    id: int
    event_id: str
    type: str
    state: DeliveryState
    attempts: list[WebhookAttemptBody]
    next_attempt_at: str | None
    last_error: str | None
    delivered_at: str | None
    created_at: str


class WebhookDeliveriesPage(BaseModel):
    data: list[WebhookDeliveryBody]
    next_cursor: str | None


class RedeliveryBody(BaseModel):
    delivery_id: int
    state: DeliveryState
    next_attempt_at: str | None


class DeletedBody(BaseModel):
    id: str
    deleted: bool
