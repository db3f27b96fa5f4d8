"""Bearer authentication: resolves `Authorization: Bearer <key>` to the workspace it is scoped to."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ingress.keys import KeyStore, Principal
from schemas.errors import Unauthenticated


async def authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated("missing bearer key: send 'Authorization: Bearer <YOUR_API_KEY>'")
    store: KeyStore = request.app.state.services.keys
    principal = await store.authenticate(secret.strip())
    if principal is None:
        raise Unauthenticated("invalid, revoked or expired API key")
    return principal


Authenticated = Annotated[Principal, Depends(authenticate)]
