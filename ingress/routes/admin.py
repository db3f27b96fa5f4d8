"""The operator's API under `/api/v1/admin/...`, behind the admin credential (a workspace key gets 403).

Workspaces are the ledger's: creating, changing, suspending a workspace and granting it credit are commands
the ledger executes (`ingress.workspace_commands`); this module only validates, sends and reports. Keys are
ingress's own, so minting, rotating and revoking any workspace's keys, and changing their guardrails, happen here.
Cancelling any workspace's batch is the request its own keys make (`ingress.batch_writes`): the operator's way to
stop a suspended workspace's batches for good (a suspended workspace's keys are refused, so it cannot).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request

from ingress import (
    batch_rendering,
    batch_writes,
    guardrail_policy,
    key_guardrails,
    key_service,
    keys,
    query_strings,
    workspace_commands,
)
from ingress.api_models import (
    GrantAnswer,
    KeyGuardrailsView,
    KeyMinted,
    KeyRotated,
    KeysPage,
    Workspace,
    WorkspaceCreated,
    WorkspacesPage,
)
from ingress.auth import authenticate_admin
from ingress.json_response import OrjsonResponse
from ingress.key_requests import Grant, NewKey, NewWorkspace, Rotation, WorkspaceUpdate
from ingress.openapi_document import error_responses
from ingress.routes.batches import BatchId
from ingress.services import Services
from ledger import batch_queries, queries
from schemas.batches import Batch
from schemas.errors import NotFound
from schemas.guardrails import Guardrails
from schemas.text import PRINTABLE, Label64

router = APIRouter(prefix="/api/v1/admin", dependencies=[Depends(authenticate_admin)])

LIST_LIMIT_MAX = 500

# Ids in an operator's paths: a control character is a 400 naming the parameter, as on every workspace route.
PathWorkspaceId = Annotated[str, Path(max_length=64), PRINTABLE]
PathKeyId = Annotated[str, Path(max_length=64), PRINTABLE]


async def _workspace_body(services: Services, workspace_id: str) -> dict[str, Any]:
    workspace_id = workspace_commands.workspace_id(workspace_id)
    async with services.engine.connect() as conn:
        view = await queries.workspace(conn, workspace_id)
        summary = await queries.balance_summary(conn, workspace_id)
    if view is None:
        raise NotFound(f"workspace '{workspace_id}' not found")
    body = asdict(view)
    body["balance"] = asdict(summary) if summary is not None else None
    return body


@router.post(
    "/workspaces",
    status_code=201,
    response_model=WorkspaceCreated,
    responses=error_responses(400, 401, 403, 404, 409, 429, 503),
)
async def create_workspace(request: Request, new: NewWorkspace) -> OrjsonResponse:
    """Create a workspace (optionally with a first grant) and, unless `with_key` is false, a key with every scope."""
    services: Services = request.app.state.services
    workspace_id = new.id or f"ws_{uuid.uuid4().hex[:12]}"
    fields = new.model_dump(exclude={"id", "with_key", "guardrails"})
    answer = await workspace_commands.issue(
        services,
        workspace_id,
        "create",
        **fields,
        guardrails=guardrail_policy.stored(guardrail_policy.resolved(services.catalogue, new.guardrails)),
        reason="opening grant",
    )
    body = await _workspace_body(services, workspace_id)
    body["granted_tokens"] = answer.granted_tokens
    if new.with_key:
        key = await key_service.mint(
            services, workspace_id, NewKey(name="owner key", scopes=["inference", "billing", "manage"]), None
        )
        body["api_key"], body["api_key_id"] = key["key"], key["id"]
    # Through the answer's model, so timestamps are written as every later read writes them (`...Z`).
    return OrjsonResponse(WorkspaceCreated.model_validate(body).model_dump(mode="json"), status_code=201)


@router.get(
    "/workspaces",
    response_model=WorkspacesPage,
    responses=error_responses(400, 401, 403),
    dependencies=[query_strings.SINGLE_VALUED],
)
async def list_workspaces(
    request: Request,
    # Compared with workspace ids in SQL: a NUL there is a database error (a 500), any control character no id.
    after: Annotated[Label64 | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=LIST_LIMIT_MAX)] = 100,
) -> dict[str, Any]:
    services: Services = request.app.state.services
    async with services.engine.connect() as conn:
        views = await queries.workspaces(conn, after_id=after, limit=limit)
    return {"data": [asdict(view) for view in views], "next_after": views[-1].id if len(views) == limit else None}


@router.get("/workspaces/{workspace_id}", response_model=Workspace, responses=error_responses(400, 401, 403, 404))
async def show_workspace(workspace_id: PathWorkspaceId, request: Request) -> dict[str, Any]:
    return await _workspace_body(request.app.state.services, workspace_id)


@router.patch(
    "/workspaces/{workspace_id}", response_model=Workspace, responses=error_responses(400, 401, 403, 404, 503)
)
async def update_workspace(workspace_id: PathWorkspaceId, request: Request, update: WorkspaceUpdate) -> dict[str, Any]:
    services: Services = request.app.state.services
    fields = update.model_dump(include=update.model_fields_set)
    if "guardrails" in fields:
        fields["guardrails"] = guardrail_policy.stored(guardrail_policy.resolved(services.catalogue, update.guardrails))
    await workspace_commands.issue(
        services, workspace_id, "update", fields_set=tuple(sorted(update.model_fields_set)), **fields
    )
    return await _workspace_body(services, workspace_id)


@router.post(
    "/workspaces/{workspace_id}/suspend", response_model=Workspace, responses=error_responses(400, 401, 403, 404, 503)
)
async def suspend_workspace(workspace_id: PathWorkspaceId, request: Request) -> dict[str, Any]:
    """Every key of the workspace is refused (403 `workspace_suspended`) until it is resumed."""
    services: Services = request.app.state.services
    await workspace_commands.issue(services, workspace_id, "suspend")
    return await _workspace_body(services, workspace_id)


@router.post(
    "/workspaces/{workspace_id}/resume", response_model=Workspace, responses=error_responses(400, 401, 403, 404, 503)
)
async def resume_workspace(workspace_id: PathWorkspaceId, request: Request) -> dict[str, Any]:
    services: Services = request.app.state.services
    await workspace_commands.issue(services, workspace_id, "resume")
    return await _workspace_body(services, workspace_id)


@router.post(
    "/workspaces/{workspace_id}/grants",
    status_code=201,
    response_model=GrantAnswer,
    responses=error_responses(400, 401, 403, 404, 503),
)
async def grant_credit(workspace_id: PathWorkspaceId, request: Request, grant: Grant) -> OrjsonResponse:
    """Credit a workspace in tokens, or in whole BDT at its exchange rate; one journal entry per grant."""
    services: Services = request.app.state.services
    answer = await workspace_commands.issue(
        services, workspace_id, "grant", grant_tokens=grant.tokens, grant_bdt=grant.bdt, reason=grant.reason
    )
    body = {"workspace_id": workspace_id, "granted_tokens": answer.granted_tokens, "balance": answer.balance_tokens}
    return OrjsonResponse(body, status_code=201)


@router.post(
    "/workspaces/{workspace_id}/keys",
    status_code=201,
    response_model=KeyMinted,
    responses=error_responses(400, 401, 403, 404, 503),
)
async def mint_key(workspace_id: PathWorkspaceId, request: Request, new_key: NewKey) -> OrjsonResponse:
    services: Services = request.app.state.services
    workspace_id = workspace_commands.workspace_id(workspace_id)
    async with services.engine.connect() as conn:
        if await queries.workspace(conn, workspace_id) is None:
            raise NotFound(f"workspace '{workspace_id}' not found")
    return OrjsonResponse(await key_service.mint(services, workspace_id, new_key, None), status_code=201)


@router.get("/workspaces/{workspace_id}/keys", response_model=KeysPage, responses=error_responses(400, 401, 403, 404))
async def list_keys(workspace_id: PathWorkspaceId, request: Request) -> dict[str, Any]:
    services: Services = request.app.state.services
    workspace_id = workspace_commands.workspace_id(workspace_id)
    async with services.engine.connect() as conn:
        if await queries.workspace(conn, workspace_id) is None:
            raise NotFound(f"workspace '{workspace_id}' not found")
        views = await keys.list_keys(conn, workspace_id)
    return {"data": [asdict(view) for view in views], "workspace_id": workspace_id}


@router.post(
    "/keys/{key_id}/rotate",
    status_code=201,
    response_model=KeyRotated,
    responses=error_responses(400, 401, 403, 404, 409, 503),
)
async def rotate_key(key_id: PathKeyId, request: Request, rotation: Rotation) -> OrjsonResponse:
    services: Services = request.app.state.services
    body = await key_service.rotate(services, key_id, rotation, caller=None, workspace_id=None)
    return OrjsonResponse(body, status_code=201)


@router.delete("/keys/{key_id}", status_code=204, responses=error_responses(400, 401, 403, 404, 503))
async def revoke_key(key_id: PathKeyId, request: Request) -> None:
    await key_service.revoke(request.app.state.services, key_id, workspace_id=None)


@router.get(
    "/keys/{key_id}/guardrails", response_model=KeyGuardrailsView, responses=error_responses(400, 401, 403, 404)
)
async def show_key_guardrails(key_id: PathKeyId, request: Request) -> dict[str, Any]:
    return await key_guardrails.show(request.app.state.services, key_id, workspace_id=None)


@router.put(
    "/keys/{key_id}/guardrails", response_model=KeyGuardrailsView, responses=error_responses(400, 401, 403, 404, 503)
)
async def set_key_guardrails(
    key_id: PathKeyId, request: Request, guardrails: Annotated[Guardrails | None, Body()]
) -> dict[str, Any]:
    """Replace any live key's guardrails, checked as a workspace's are; they become what is imposed on the key, so
    the workspace's own keys may add to them but never lift them."""
    services: Services = request.app.state.services
    return await key_guardrails.replace(services, key_id, guardrails, caller=None, workspace_id=None)


@router.delete(
    "/keys/{key_id}/guardrails", response_model=KeyGuardrailsView, responses=error_responses(400, 401, 403, 404, 503)
)
async def clear_key_guardrails(key_id: PathKeyId, request: Request) -> dict[str, Any]:
    """Remove any live key's guardrails, and what was imposed on them."""
    services: Services = request.app.state.services
    return await key_guardrails.replace(services, key_id, None, caller=None, workspace_id=None)


@router.post("/batches/{batch_id}/cancel", response_model=Batch, responses=error_responses(400, 401, 403, 404))
async def cancel_batch(batch_id: BatchId, request: Request) -> Batch:
    """Cancel any workspace's batch (a suspended workspace's too), as its own `POST /api/v1/batches/{id}/cancel`
    does: no further line is released, lines not released are `cancelled` (they never held anything), jobs already
    released run, finish and are billed."""
    services: Services = request.app.state.services
    workspace_id = await batch_writes.request_cancel_any(services.engine, batch_id)
    view = (
        await batch_queries.batch(services.engine, workspace_id, batch_id, catalogue=services.catalogue)
        if workspace_id is not None
        else None
    )
    if view is None:
        raise NotFound(f"batch '{batch_id}' not found")
    return batch_rendering.batch(view)
