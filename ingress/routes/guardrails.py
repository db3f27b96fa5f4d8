"""A workspace's own guardrails, read and set by its `manage` key: `GET` and `PUT /api/v1/guardrails`.

The operator sets the same settings through `PATCH /api/v1/admin/workspaces/{id}`; both go the one way a
workspace changes (`ingress.workspace_commands`: a command the ledger executes, whose new state every replica
follows on `workspaces.changes`), so a `PUT` applies to the caller's very next request. A key's own guardrails
are set when it is minted (`POST /api/v1/keys`) and changed at `/api/v1/keys/{id}/guardrails`
(`ingress.routes.keys`), not here.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from ingress import guardrail_policy, workspace_commands
from ingress.api_models import WorkspaceGuardrailsView
from ingress.auth import Manager
from ingress.openapi_document import error_responses
from ingress.services import Services
from ledger import queries
from schemas.errors import NotFound
from schemas.guardrails import Guardrails

router = APIRouter(prefix="/api/v1/guardrails")


@router.get("", response_model=WorkspaceGuardrailsView, responses=error_responses(401, 403, 404))
async def show_guardrails(request: Request, principal: Manager) -> dict[str, Any]:
    """The calling key's workspace's guardrails as configured; `null` when it has none."""
    services: Services = request.app.state.services
    async with services.engine.connect() as conn:
        view = await queries.workspace(conn, principal.workspace_id)
    if view is None:
        raise NotFound(f"workspace '{principal.workspace_id}' not found")
    return {"workspace_id": view.id, "guardrails": view.guardrails, "revision": view.revision}


@router.put("", response_model=WorkspaceGuardrailsView, responses=error_responses(400, 401, 403, 404, 503))
async def set_guardrails(
    request: Request, principal: Manager, guardrails: Annotated[Guardrails | None, Body()]
) -> dict[str, Any]:
    """Replace the workspace's guardrails with the body (`null` or `{}` removes them all). Checked when set: a
    deny pattern RE2 cannot compile or one that nests unbounded quantifiers is a 400 naming the rule, a model
    outside the catalogue a 404. Applies to the next request on every replica."""
    services: Services = request.app.state.services
    stored = guardrail_policy.stored(guardrail_policy.resolved(services.catalogue, guardrails))
    answer = await workspace_commands.issue(
        services, principal.workspace_id, "update", fields_set=("guardrails",), guardrails=stored
    )
    assert answer.workspace is not None, "an update is answered with the workspace's new state"
    state = answer.workspace
    return {"workspace_id": state.workspace_id, "guardrails": state.guardrails, "revision": state.revision}
