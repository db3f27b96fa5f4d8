"""Finance writes: top-ups, auto top-up and alert settings (`billing` scope), and the operator's money actions
under `/api/v1/admin/...` (invoice paid, refunds, adjustments, rates and prices).

Money moves only in the ledger: each route validates its body into a `schemas.finance` command and sends it on
the one ingress -> ledger command mechanism (`ledger.commands`, answered on `ledger.replies`), where
`ledger.finance_commands.execute` runs it in one transaction. A refused command writes nothing.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Request
from pydantic import BaseModel, ValidationError

from ingress.api_models import (
    AlertThresholdCreated,
    AlertThresholdRemoved,
    AutoTopupAnswer,
    Correction,
    InvoicePaid,
    PricePublished,
    RatePublished,
    Removed,
    TopupAnswer,
    WebhookEndpoint,
)
from ingress.auth import Billing, Manager, authenticate_admin
from ingress.json_response import OrjsonResponse
from ingress.openapi_document import error_responses
from ingress.routes.admin import PathWorkspaceId
from ingress.services import Services
from ingress.workspace_commands import CommandRefused
from ledger import finance_queries
from schemas.errors import InvalidRequest, NotFound
from schemas.events import WorkspaceCommandIssued
from schemas.finance import (
    AddAlertThreshold,
    Adjust,
    MarkInvoicePaid,
    PublishPrice,
    PublishRate,
    RefundJob,
    RemoveAlertThreshold,
    RemoveWebhook,
    RequestTopup,
    SetAutoTopup,
    SetWebhook,
)

router = APIRouter()
admin_router = APIRouter(prefix="/api/v1/admin", dependencies=[Depends(authenticate_admin)])

# The platform's rate and the price book belong to no workspace; their commands travel under this key.
PLATFORM = "_platform"
WORKSPACE_ID_LENGTH_MAX = 128
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]
JsonBody = Annotated[dict[str, Any], Body()]
_REPLAYED_TOPUP = {"model": TopupAnswer, "description": "the first top-up under this `Idempotency-Key`, replayed"}
_REPLAYED_REFUND = {"model": Correction, "description": "the job was already refunded: that refund, replayed"}
_REPLAYED_ADJUSTMENT = {
    "model": Correction,
    "description": "the adjustment already recorded under this `Idempotency-Key`, replayed",
}


def _printable(value: Any, where: str = "body") -> None:
    """Refuse control characters (NUL included) anywhere in a body: no such text reaches the journal."""
    if isinstance(value, str):
        if not value.isprintable():
            raise InvalidRequest(f"{where} contains a control character")
    elif isinstance(value, dict):
        for key, item in value.items():
            _printable(key, where)
            _printable(item, f"{where}.{key}")
    elif isinstance(value, list):
        for item in value:
            _printable(item, where)


def _command_of(model: type[BaseModel], body: dict[str, Any], **fixed: Any) -> BaseModel:
    _printable(body)
    if "action" in body:
        raise InvalidRequest("body: 'action' is not a field of this route")
    try:
        return model.model_validate({**body, **fixed})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise InvalidRequest(f"{where}: {first['msg']}") from exc


def _idempotency_key(value: str | None) -> str:
    if value is None:
        return f"req_{uuid.uuid4().hex}"
    if not value or not value.isprintable() or not value.isascii():
        raise InvalidRequest("Idempotency-Key must be 1-255 printable ASCII characters")
    return value


def _workspace_id(value: str) -> str:
    if not 0 < len(value) <= WORKSPACE_ID_LENGTH_MAX or not value.isprintable() or value == PLATFORM:
        raise NotFound(f"workspace {value[:64]!r} not found")
    return value


async def _send(services: Services, workspace_id: str, command: BaseModel, *, actor: str) -> dict[str, Any]:
    """One finance command to the ledger and its answer; a refusal becomes the API error it names."""
    issued = WorkspaceCommandIssued(
        workspace_id=workspace_id,
        job_id=f"cmd_{uuid.uuid4().hex}",
        action="finance",
        finance=command.model_dump(mode="json"),
        actor=actor,
    )
    answer = await services.commands.issue(issued, timeout_s=services.settings.admin_command_timeout_s)
    if not answer.ok:
        assert answer.error is not None
        raise CommandRefused(answer.error.code, answer.error.message)
    return answer.result or {}


def _replayable_response(body: dict[str, Any], *, replayed: bool) -> OrjsonResponse:
    """A money write's answer: 201 when it was recorded now, 200 (the body carrying `replayed`) when it already
    was and nothing moved this time. Top-ups, refunds and adjustments answer alike."""
    return OrjsonResponse(body, status_code=200 if replayed else 201)


def _topup_response(result: dict[str, Any]) -> OrjsonResponse:
    body = dict(result["topup"]) | {"replayed": result["replayed"]}
    return _replayable_response(body, replayed=result["replayed"])


def _correction_response(result: dict[str, Any]) -> OrjsonResponse:
    return _replayable_response(result, replayed=result["replayed"])


# --- the workspace's own (billing scope) ---------------------------------------------------------------


@router.post(
    "/api/v1/topups",
    status_code=201,
    response_model=TopupAnswer,
    responses={200: _REPLAYED_TOPUP, **error_responses(400, 401, 403, 409, 503)},
)
async def post_topup(
    request: Request, principal: Billing, body: JsonBody, idempotency_key: IdempotencyKey = None
) -> OrjsonResponse:
    """Buy credit: `amount_paisa` (integer) or `amount_bdt` ("250.50"), `method` `invoice` (default) or `card`.
    The same `Idempotency-Key` returns the first top-up (200, `replayed`); the answer carries its `status`."""
    command = _command_of(RequestTopup, body, idempotency_key=_idempotency_key(idempotency_key))
    result = await _send(request.app.state.services, principal.workspace_id, command, actor=principal.key_id)
    return _topup_response(result)


@router.put("/api/v1/billing/auto-topup", response_model=AutoTopupAnswer, responses=error_responses(400, 401, 403, 503))
async def put_auto_topup(request: Request, principal: Billing, body: JsonBody) -> dict[str, Any]:
    """Set the auto top-up: `threshold_tokens`, `amount_paisa` or `amount_bdt`, `method`, `enabled` (default true);
    `enabled: false` turns it off. It fires once per downward crossing and re-arms above the threshold.
    Answers the stored setting exactly as `GET /api/v1/balance` shows it (`amount_paisa` and `amount_bdt`, `armed`)."""
    services: Services = request.app.state.services
    command = _command_of(SetAutoTopup, body)
    result = await _send(services, principal.workspace_id, command, actor=principal.key_id)
    stored = result.get("auto_topup")
    if not isinstance(stored, dict):
        # A ledger from before this answer carried the stored row says only "set": read the row back instead.
        async with services.engine.connect() as conn:
            stored = await finance_queries.auto_topup(conn, principal.workspace_id)
    assert stored is not None, "the auto top-up the ledger just stored is not there"
    return {"auto_topup": stored}


@router.post(
    "/api/v1/billing/alert-thresholds",
    status_code=201,
    response_model=AlertThresholdCreated,
    responses=error_responses(400, 401, 403, 503),
)
async def post_alert_threshold(request: Request, principal: Billing, body: JsonBody) -> dict[str, Any]:
    """Add an alert: `{"kind": "absolute", "threshold_tokens": N}` or `{"kind": "percent_of_last_topup",
    "percent": P}`; answers its `id`."""
    command = _command_of(AddAlertThreshold, body)
    result = await _send(request.app.state.services, principal.workspace_id, command, actor=principal.key_id)
    return {"id": result["threshold_id"]} | body


@router.delete(
    "/api/v1/billing/alert-thresholds/{threshold_id}",
    response_model=AlertThresholdRemoved,
    responses=error_responses(400, 401, 403, 404, 503),
)
async def delete_alert_threshold(
    request: Request, principal: Billing, threshold_id: Annotated[int, Path(ge=1, le=2**62)]
) -> dict[str, Any]:
    command = RemoveAlertThreshold(threshold_id=threshold_id)
    result = await _send(request.app.state.services, principal.workspace_id, command, actor=principal.key_id)
    if not result.get("removed"):
        raise NotFound(f"alert threshold {threshold_id} not found")
    return {"id": threshold_id, "removed": True}


@router.put("/api/v1/billing/webhook", response_model=WebhookEndpoint, responses=error_responses(400, 401, 403, 503))
async def put_webhook(request: Request, principal: Manager, body: JsonBody) -> dict[str, Any]:
    """Where finance events (thresholds crossed, top-ups succeeded or failed) are POSTed, signed with Standard
    Webhooks headers: `{"url"}` and optionally your own `secret` (`whsec_` + base64); the answer carries the
    secret (a new one on every PUT without one). Retried on a finite schedule when the receiver fails."""
    if "secret" not in body:
        body = body | {"secret": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()}
    command = _command_of(SetWebhook, body)
    result = await _send(request.app.state.services, principal.workspace_id, command, actor=principal.key_id)
    # It is one of the workspace's endpoints (`/api/v1/webhooks/{id}`): its id lets the caller manage it there.
    return {"url": body["url"], "secret": body["secret"], "id": result.get("id")}


@router.delete("/api/v1/billing/webhook", response_model=Removed, responses=error_responses(401, 403, 404, 503))
async def delete_webhook(request: Request, principal: Manager) -> dict[str, Any]:
    result = await _send(request.app.state.services, principal.workspace_id, RemoveWebhook(), actor=principal.key_id)
    if not result.get("removed"):
        raise NotFound("this workspace has no webhook")
    return {"removed": True}


# --- the operator's (admin credential) -----------------------------------------------------------------


@admin_router.post(
    "/workspaces/{workspace_id}/topups",
    status_code=201,
    response_model=TopupAnswer,
    responses={200: _REPLAYED_TOPUP, **error_responses(400, 401, 403, 404, 409, 503)},
)
async def admin_topup(
    request: Request, workspace_id: PathWorkspaceId, body: JsonBody, idempotency_key: IdempotencyKey = None
) -> OrjsonResponse:
    """A top-up for any workspace (the body of `POST /api/v1/topups`); `luntrex topup` uses it."""
    command = _command_of(RequestTopup, body, idempotency_key=_idempotency_key(idempotency_key))
    result = await _send(request.app.state.services, _workspace_id(workspace_id), command, actor="admin")
    return _topup_response(result)


@admin_router.post(
    "/workspaces/{workspace_id}/invoices/{invoice_id}/paid",
    response_model=InvoicePaid,
    responses=error_responses(400, 401, 403, 404, 503),
)
async def admin_invoice_paid(
    request: Request, workspace_id: PathWorkspaceId, invoice_id: Annotated[str, Path(max_length=64)]
) -> dict[str, Any]:
    """Mark an invoiced top-up paid: funding settles the receivable. `paid` is false when it already was."""
    command = _command_of(MarkInvoicePaid, {"invoice_id": invoice_id})
    result = await _send(request.app.state.services, _workspace_id(workspace_id), command, actor="admin")
    return {"invoice_id": invoice_id, "paid": result["paid"]}


@admin_router.post(
    "/workspaces/{workspace_id}/refunds",
    status_code=201,
    response_model=Correction,
    responses={200: _REPLAYED_REFUND, **error_responses(400, 401, 403, 404, 409, 503)},
)
async def admin_refund(request: Request, workspace_id: PathWorkspaceId, body: JsonBody) -> OrjsonResponse:
    """Reverse a completed job's charge in full: `{"job_id", "reason"}` (once per job). Refunding the job again
    moves nothing and answers 200 with `replayed`."""
    command = _command_of(RefundJob, body)
    result = await _send(request.app.state.services, _workspace_id(workspace_id), command, actor="admin")
    return _correction_response(result)


@admin_router.post(
    "/workspaces/{workspace_id}/adjustments",
    status_code=201,
    response_model=Correction,
    responses={200: _REPLAYED_ADJUSTMENT, **error_responses(400, 401, 403, 404, 409, 503)},
)
async def admin_adjustment(
    request: Request, workspace_id: PathWorkspaceId, body: JsonBody, idempotency_key: IdempotencyKey = None
) -> OrjsonResponse:
    """Credit (`tokens` > 0) or debit (< 0) a workspace with a `reason`; idempotent under `Idempotency-Key`: the
    same key moves nothing again and answers 200 with `replayed`."""
    command = _command_of(Adjust, body, idempotency_key=_idempotency_key(idempotency_key))
    result = await _send(request.app.state.services, _workspace_id(workspace_id), command, actor="admin")
    return _correction_response(result)


@admin_router.post(
    "/workspaces/{workspace_id}/rates",
    status_code=201,
    response_model=RatePublished,
    responses=error_responses(400, 401, 403, 404, 503),
)
async def admin_workspace_rate(request: Request, workspace_id: PathWorkspaceId, body: JsonBody) -> dict[str, Any]:
    """A workspace's exchange-rate override: `{"tokens_per_bdt": "500", "effective_at"?, "reason"}`."""
    command = _command_of(PublishRate, body, platform=False)
    return await _send(request.app.state.services, _workspace_id(workspace_id), command, actor="admin")


@admin_router.post(
    "/rates", status_code=201, response_model=RatePublished, responses=error_responses(400, 401, 403, 503)
)
async def admin_platform_rate(request: Request, body: JsonBody) -> dict[str, Any]:
    """A new platform exchange-rate version (never effective in the past)."""
    command = _command_of(PublishRate, body, platform=True)
    return await _send(request.app.state.services, PLATFORM, command, actor="admin")


@admin_router.post(
    "/prices", status_code=201, response_model=PricePublished, responses=error_responses(400, 401, 403, 404, 503)
)
async def admin_price(request: Request, body: JsonBody) -> dict[str, Any]:
    """A new price-book version for a model: `{"model_id", "input_multiplier", "output_multiplier",
    "cached_input_multiplier"?, "effective_at"?}` as exact rationals ("3/4"); never effective in the past.
    The cached-input multiplier (default: the input one) prices the prompt tokens the provider read from its cache,
    for jobs admitted once the version is in force."""
    command = _command_of(PublishPrice, body)
    return await _send(request.app.state.services, PLATFORM, command, actor="admin")
