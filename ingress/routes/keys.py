"""Key management for the caller's workspace: mint, list, rotate with an overlap, revoke.

Any key of a workspace may manage that workspace's keys (as in the dashboard); a key never sees another
workspace's keys. Rotation without downtime: `POST /api/v1/keys/{id}/rotate` mints a successor and lets the
old key keep working for `grace_s` seconds, so clients can move over before it stops.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import ORJSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ingress import keys
from ingress.auth import Authenticated
from ingress.services import Services
from schemas.api import Label
from schemas.errors import NotFound

router = APIRouter(prefix="/api/v1/keys")

GRACE_MAX_S = 30 * 86_400

KeyId = Annotated[Label, Path(max_length=64)]


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Label = Field(default="api key", min_length=1, max_length=100)
    expires_in_s: float | None = Field(default=None, gt=0, le=3 * 365 * 86_400)


class Rotation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grace_s: float = Field(default=3_600, ge=0, le=GRACE_MAX_S)
    name: Label | None = Field(default=None, min_length=1, max_length=100)


@router.post("", status_code=201)
async def create_key(request: Request, principal: Authenticated, new_key: NewKey) -> ORJSONResponse:
    services: Services = request.app.state.services
    async with services.engine.begin() as conn:
        key_id, secret = await keys.create_key(
            conn, principal.workspace_id, new_key.name, expires_in_s=new_key.expires_in_s
        )
    return ORJSONResponse({"id": key_id, "key": secret, "name": new_key.name}, status_code=201)


@router.get("")
async def list_keys(request: Request, principal: Authenticated) -> dict[str, Any]:
    services: Services = request.app.state.services
    async with services.engine.connect() as conn:
        views = await keys.list_keys(conn, principal.workspace_id)
    return {"data": [asdict(view) for view in views]}


@router.post("/{key_id}/rotate", status_code=201)
async def rotate_key(key_id: KeyId, request: Request, principal: Authenticated, rotation: Rotation) -> ORJSONResponse:
    services: Services = request.app.state.services
    async with services.engine.begin() as conn:
        if not await keys.expire_key(conn, principal.workspace_id, key_id, grace_s=rotation.grace_s):
            raise NotFound(f"no live key '{key_id}' in this workspace")
        new_id, secret = await keys.create_key(conn, principal.workspace_id, rotation.name or f"rotated {key_id}")
    return ORJSONResponse(
        {"id": new_id, "key": secret, "replaces": key_id, "old_key_valid_for_s": rotation.grace_s}, status_code=201
    )


@router.delete("/{key_id}", status_code=204)
async def revoke_key(key_id: KeyId, request: Request, principal: Authenticated) -> None:
    services: Services = request.app.state.services
    async with services.engine.begin() as conn:
        if not await keys.revoke_key(conn, principal.workspace_id, key_id):
            raise NotFound(f"no live key '{key_id}' in this workspace")
