"""`/api/v1/webhooks`: the workspace's webhook endpoints and their delivery logs.

Changing needs the `manage` scope; reading, `billing` or `manage`. Writes travel as commands to the ledger,
which owns the tables (`ledger.webhook_commands`); reads go through `ledger.webhook_queries`. An endpoint's
secret is answered only when it is created or rotated.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from ingress import query_strings
from ingress.auth import Manager, authenticate_billing_or_manager
from ingress.json_response import OrjsonResponse
from ingress.key_policy import Principal
from ingress.page_cursors import row_id_cursor
from ingress.routes.finance_writes import JsonBody, _command_of, _send
from ingress.services import Services
from ledger import webhook_queries
from schemas.api import ErrorBody
from schemas.errors import InvalidRequest, NotFound
from schemas.webhooks import (
    CreateWebhook,
    DeletedBody,
    DeleteWebhook,
    RedeliverWebhook,
    RedeliveryBody,
    RotateWebhookSecret,
    UpdateWebhook,
    WebhookDeliveriesPage,
    WebhookEndpointBody,
    WebhookEndpointsPage,
)

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])

_ENDPOINT_ID = r"^we_[0-9a-f]{1,64}$"
EndpointId = Annotated[str, Path(max_length=67, pattern=_ENDPOINT_ID)]


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody} for status in statuses}


WebhookReader = Annotated[Principal, Depends(authenticate_billing_or_manager)]


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


@router.post("", status_code=201, response_model=WebhookEndpointBody, responses=_errors(400, 401, 403, 503, 504))
async def create_webhook(request: Request, principal: Manager, body: JsonBody) -> OrjsonResponse:
    """A new endpoint: `url`, `event_types`, optional `description`, `enabled`, `secret` (else one is made).
    The answer carries the secret; it is never shown again (rotate it to get a new one)."""
    command = _command_of(CreateWebhook, body)
    result = await _send(_services(request), principal.workspace_id, command, actor=principal.key_id)
    return OrjsonResponse(WebhookEndpointBody.model_validate(result).model_dump(), status_code=201)


@router.get("", response_model=WebhookEndpointsPage, responses=_errors(401, 403))
async def list_webhooks(request: Request, principal: WebhookReader) -> WebhookEndpointsPage:
    async with _services(request).engine.connect() as conn:
        rows = await webhook_queries.endpoints(conn, principal.workspace_id)
    return WebhookEndpointsPage.model_validate({"data": rows})


@router.get("/{endpoint_id}", response_model=WebhookEndpointBody, responses=_errors(400, 401, 403, 404))
async def get_webhook(request: Request, principal: WebhookReader, endpoint_id: EndpointId) -> WebhookEndpointBody:
    async with _services(request).engine.connect() as conn:
        row = await webhook_queries.endpoint(conn, principal.workspace_id, endpoint_id)
    if row is None:
        raise NotFound(f"webhook endpoint {endpoint_id!r} not found")
    return WebhookEndpointBody.model_validate(row)


@router.patch("/{endpoint_id}", response_model=WebhookEndpointBody, responses=_errors(400, 401, 403, 404, 503, 504))
async def update_webhook(
    request: Request, principal: Manager, endpoint_id: EndpointId, body: JsonBody
) -> WebhookEndpointBody:
    """Change any of `url`, `event_types`, `description`, `enabled` (`false` pauses it: its deliveries are held, not
    attempted, until it is `true` again)."""
    if "endpoint_id" in body:
        raise InvalidRequest("body: 'endpoint_id' is not a field of this route")
    command = _command_of(UpdateWebhook, body, endpoint_id=endpoint_id)
    result = await _send(_services(request), principal.workspace_id, command, actor=principal.key_id)
    return WebhookEndpointBody.model_validate(result)


@router.delete("/{endpoint_id}", response_model=DeletedBody, responses=_errors(400, 401, 403, 404, 503, 504))
async def delete_webhook(request: Request, principal: Manager, endpoint_id: EndpointId) -> DeletedBody:
    """Delete it; its pending deliveries end `dead`."""
    command = DeleteWebhook(endpoint_id=endpoint_id)
    result = await _send(_services(request), principal.workspace_id, command, actor=principal.key_id)
    return DeletedBody.model_validate(result)


@router.post(
    "/{endpoint_id}/rotate-secret",
    response_model=WebhookEndpointBody,
    responses=_errors(400, 401, 403, 404, 503, 504),
)
async def rotate_webhook_secret(
    request: Request, principal: Manager, endpoint_id: EndpointId, body: JsonBody
) -> WebhookEndpointBody:
    """`{"grace_s": N}` (0 to 604800, default 86400): a new secret now; until `previous_secret_until` every
    delivery carries both signatures in `webhook-signature`, space separated."""
    if "endpoint_id" in body:
        raise InvalidRequest("body: 'endpoint_id' is not a field of this route")
    command = _command_of(RotateWebhookSecret, body, endpoint_id=endpoint_id)
    result = await _send(_services(request), principal.workspace_id, command, actor=principal.key_id)
    return WebhookEndpointBody.model_validate(result)


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=WebhookDeliveriesPage,
    responses=_errors(400, 401, 403, 404),
    dependencies=[query_strings.SINGLE_VALUED],
)
async def list_deliveries(
    request: Request,
    principal: WebhookReader,
    endpoint_id: EndpointId,
    cursor: Annotated[str | None, Query(max_length=19, pattern=r"^[0-9]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=webhook_queries.DELIVERIES_PAGE_MAX)] = 20,
) -> WebhookDeliveriesPage:
    """Newest first: each delivery's event id and type, its state and every attempt (status code, latency,
    error). Pass `next_cursor` back as `cursor` for the next page."""
    async with _services(request).engine.connect() as conn:
        if await webhook_queries.endpoint(conn, principal.workspace_id, endpoint_id) is None:
            raise NotFound(f"webhook endpoint {endpoint_id!r} not found")
        data, next_id = await webhook_queries.deliveries(
            conn, principal.workspace_id, endpoint_id, before_id=row_id_cursor(cursor), limit=limit
        )
    return WebhookDeliveriesPage.model_validate(
        {"data": data, "next_cursor": str(next_id) if next_id is not None else None}
    )


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=RedeliveryBody,
    responses=_errors(400, 401, 403, 404, 409, 503, 504),
)
async def redeliver(
    request: Request, principal: Manager, delivery_id: Annotated[int, Path(ge=1, le=2**63 - 1)]
) -> OrjsonResponse:
    """Send a delivered or dead delivery again (the same `webhook-id`), its retry schedule starting over; a 409
    `conflict` when its endpoint is disabled (paused: its held deliveries go on once it is enabled)."""
    command = RedeliverWebhook(delivery_id=delivery_id)
    result = await _send(_services(request), principal.workspace_id, command, actor=principal.key_id)
    return OrjsonResponse(RedeliveryBody.model_validate(result).model_dump(), status_code=202)
