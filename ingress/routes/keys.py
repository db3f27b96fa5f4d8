"""Key management for the caller's workspace: mint, list, rotate with an overlap, revoke.

Needs a key with the `manage` scope that is not itself rotated out; a key never sees another workspace's keys
(they are reported as absent) and never creates a key with more power than its own. Rotation without
downtime: `POST /api/v1/keys/{id}/rotate` mints a successor and lets the old key keep calling models for
`grace_s` seconds, so clients can move over before it stops. A key's own guardrails are read and replaced at
`/api/v1/keys/{id}/guardrails` (`ingress.key_guardrails`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request

from ingress import key_guardrails, key_service, keys
from ingress.api_models import KeyGuardrailsView, KeyMinted, KeyRotated, KeysPage
from ingress.auth import Manager
from ingress.json_response import OrjsonResponse
from ingress.key_requests import NewKey, Rotation
from ingress.openapi_document import error_responses
from ingress.services import Services
from schemas.guardrails import Guardrails
from schemas.text import PRINTABLE

router = APIRouter(prefix="/api/v1/keys")

KeyId = Annotated[str, Path(max_length=64), PRINTABLE]


@router.post("", status_code=201, response_model=KeyMinted, responses=error_responses(400, 401, 403, 404, 429, 503))
async def create_key(request: Request, principal: Manager, new_key: NewKey) -> OrjsonResponse:
    """Mint a key (default scope `inference`); the secret is in this answer only. Anything not named is inherited
    from the calling key, and `guardrails` are added to the calling key's own."""
    services: Services = request.app.state.services
    body = await key_service.mint(services, principal.workspace_id, new_key, principal)
    return OrjsonResponse(body, status_code=201)


@router.get("", response_model=KeysPage, responses=error_responses(401, 403))
async def list_keys(request: Request, principal: Manager) -> dict[str, Any]:
    services: Services = request.app.state.services
    async with services.engine.connect() as conn:
        views = await keys.list_keys(conn, principal.workspace_id)
    return {"data": [asdict(view) for view in views], "workspace_id": principal.workspace_id}


@router.post(
    "/{key_id}/rotate",
    status_code=201,
    response_model=KeyRotated,
    responses=error_responses(400, 401, 403, 404, 409, 429, 503),
)
async def rotate_key(key_id: KeyId, request: Request, principal: Manager, rotation: Rotation) -> OrjsonResponse:
    services: Services = request.app.state.services
    body = await key_service.rotate(services, key_id, rotation, caller=principal, workspace_id=principal.workspace_id)
    return OrjsonResponse(body, status_code=201)


@router.delete("/{key_id}", status_code=204, responses=error_responses(400, 401, 403, 404, 503))
async def revoke_key(key_id: KeyId, request: Request, principal: Manager) -> None:
    services: Services = request.app.state.services
    await key_service.revoke(services, key_id, workspace_id=principal.workspace_id)


@router.get("/{key_id}/guardrails", response_model=KeyGuardrailsView, responses=error_responses(400, 401, 403, 404))
async def show_key_guardrails(key_id: KeyId, request: Request, principal: Manager) -> dict[str, Any]:
    """A key's own guardrails (`null` when it has none) and what its parent imposed on them."""
    return await key_guardrails.show(request.app.state.services, key_id, workspace_id=principal.workspace_id)


@router.put(
    "/{key_id}/guardrails", response_model=KeyGuardrailsView, responses=error_responses(400, 401, 403, 404, 503)
)
async def set_key_guardrails(
    key_id: KeyId, request: Request, principal: Manager, guardrails: Annotated[Guardrails | None, Body()]
) -> dict[str, Any]:
    """Replace a live key's guardrails with the body (`null` or `{}` removes them). Checked as a workspace's are
    (a deny pattern RE2 cannot compile or that nests unbounded quantifiers is a 400 naming the rule, a model
    outside the catalogue a 404); a set looser than what the key's parent imposed or than the calling key's own
    guardrails is a 403 `key_restricted` naming what it would lift. Applies to the key's next request on every
    replica."""
    services: Services = request.app.state.services
    return await key_guardrails.replace(
        services, key_id, guardrails, caller=principal, workspace_id=principal.workspace_id
    )


@router.delete(
    "/{key_id}/guardrails", response_model=KeyGuardrailsView, responses=error_responses(400, 401, 403, 404, 503)
)
async def clear_key_guardrails(key_id: KeyId, request: Request, principal: Manager) -> dict[str, Any]:
    """Remove a live key's own guardrails; refused (403 `key_restricted`) when its parent imposed some or the
    calling key has some of its own."""
    services: Services = request.app.state.services
    return await key_guardrails.replace(services, key_id, None, caller=principal, workspace_id=principal.workspace_id)
