"""Bearer authentication: workspace keys with their scopes, and the operator's admin credential.

Authenticated    a workspace key with the `inference` scope (completions, jobs, models)
Reader           `inference` or `billing` (the workspace's own balance)
Billing          `billing` (ledger reads, usage)
Manager          `manage`, from a key not rotated out (keys of its workspace)
Admin            the admin credential; a workspace key here is a 403
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ingress.admin_credential import AdminCredential
from ingress.key_directory import KeyDirectory
from ingress.key_policy import Principal, require_manager, require_scope
from schemas.errors import ErrorCode, Forbidden, Unauthenticated


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated("missing bearer key: send 'Authorization: Bearer <YOUR_API_KEY>'")
    return secret.strip()


async def authenticate(request: Request) -> Principal:
    secret = _bearer(request)
    directory: KeyDirectory = request.app.state.services.keys
    principal = await directory.authenticate(secret)
    if principal is None:
        raise Unauthenticated("invalid, revoked or expired API key")
    return principal


async def authenticate_inference(request: Request) -> Principal:
    principal = await authenticate(request)
    require_scope(principal, "inference")
    return principal


async def authenticate_reader(request: Request) -> Principal:
    principal = await authenticate(request)
    if "billing" not in principal.power.scopes:
        require_scope(principal, "inference")
    return principal


async def authenticate_billing(request: Request) -> Principal:
    principal = await authenticate(request)
    require_scope(principal, "billing")
    return principal


async def authenticate_billing_or_manager(request: Request) -> Principal:
    """`billing` or `manage`: reading webhook endpoints and their delivery logs."""
    principal = await authenticate(request)
    if "billing" not in principal.power.scopes:
        require_manager(principal)
    return principal


async def authenticate_manager(request: Request) -> Principal:
    principal = await authenticate(request)
    require_manager(principal)
    return principal


async def authenticate_admin(request: Request) -> None:
    secret = _bearer(request)
    admin: AdminCredential = request.app.state.services.admin
    if admin.matches(secret):
        return
    if not admin.configured:
        raise Forbidden("the admin API is disabled: no LUNTREX_ADMIN_KEY is configured", code=ErrorCode.ADMIN_ONLY)
    directory: KeyDirectory = request.app.state.services.keys
    if await directory.authenticate(secret) is not None:
        raise Forbidden("this endpoint needs the admin credential, not a workspace key", code=ErrorCode.ADMIN_ONLY)
    raise Unauthenticated("invalid admin credential")


Authenticated = Annotated[Principal, Depends(authenticate_inference)]
Reader = Annotated[Principal, Depends(authenticate_reader)]
Billing = Annotated[Principal, Depends(authenticate_billing)]
Manager = Annotated[Principal, Depends(authenticate_manager)]
Admin = Annotated[None, Depends(authenticate_admin)]
