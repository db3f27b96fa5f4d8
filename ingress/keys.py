"""Bearer API keys: minting, storage as SHA-256, and lookup with a short cache (ingress owns `api_keys`).

A key reads `lx_<key id>_<secret>`. Rotation without downtime: a workspace may hold several live keys; mint
the new one, move clients, then revoke the old one (or let it expire). Revocation takes effect within the
cache TTL on every ingress replica.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import queries

KEY_PREFIX = "lx_"
KEY_LENGTH_MAX = 200


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key and the workspace it is scoped to."""

    key_id: str
    workspace_id: str
    default_model: str | None


def fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyView:
    """A key as its workspace sees it: never the secret, which is shown once at creation."""

    id: str
    name: str
    last4: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


async def create_key(
    conn: AsyncConnection, workspace_id: str, name: str, *, expires_in_s: float | None = None
) -> tuple[str, str]:
    """Mint a key for a workspace; returns (key id, the secret to show once)."""
    key_id = secrets.token_hex(6)
    secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    await conn.execute(
        text(
            "INSERT INTO api_keys (id, workspace_id, name, secret_sha256, last4, expires_at) "
            "VALUES (:id, :ws, :name, :sha, :last4, now() + make_interval(secs => :ttl))"
        ),
        {
            "id": key_id,
            "ws": workspace_id,
            "name": name,
            "sha": fingerprint(secret),
            "last4": secret[-4:],
            "ttl": expires_in_s,
        },
    )
    return key_id, secret


async def revoke_key(conn: AsyncConnection, workspace_id: str, key_id: str) -> bool:
    result = await conn.execute(
        text(
            "UPDATE api_keys SET revoked_at = now() WHERE id = :id AND workspace_id = :ws AND revoked_at IS NULL "
            "RETURNING id"
        ),
        {"id": key_id, "ws": workspace_id},
    )
    return result.first() is not None


async def expire_key(conn: AsyncConnection, workspace_id: str, key_id: str, *, grace_s: float) -> bool:
    """Let a live key keep working for `grace_s` more seconds (the overlap of a rotation), then stop."""
    result = await conn.execute(
        text(
            "UPDATE api_keys SET expires_at = least(coalesce(expires_at, 'infinity'), "
            "now() + make_interval(secs => :grace)) WHERE id = :id AND workspace_id = :ws AND revoked_at IS NULL "
            "AND (expires_at IS NULL OR expires_at > now()) RETURNING id"
        ),
        {"id": key_id, "ws": workspace_id, "grace": grace_s},
    )
    return result.first() is not None


async def list_keys(conn: AsyncConnection, workspace_id: str) -> list[KeyView]:
    rows = await conn.execute(
        text(
            "SELECT id, name, last4, created_at, expires_at, revoked_at FROM api_keys "
            "WHERE workspace_id = :ws ORDER BY created_at, id"
        ),
        {"ws": workspace_id},
    )
    return [KeyView(**row._mapping) for row in rows]


class KeyStore:
    """Resolves a presented secret to its principal; caches hits and misses for `ttl_s`."""

    def __init__(self, engine: AsyncEngine, ttl_s: float, entries_max: int = 100_000) -> None:
        self._engine = engine
        self._ttl_s = ttl_s
        self._entries_max = entries_max
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def authenticate(self, secret: str) -> Principal | None:
        if not secret.startswith(KEY_PREFIX) or len(secret) > KEY_LENGTH_MAX:
            return None
        sha = fingerprint(secret)
        now = time.monotonic()
        cached = self._cache.get(sha)
        if cached is not None and cached[0] > now:
            return cached[1]
        principal = await self._lookup(sha)
        if len(self._cache) >= self._entries_max:
            self._cache.clear()
        self._cache[sha] = (now + self._ttl_s, principal)
        return principal

    async def _lookup(self, sha: str) -> Principal | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT id, workspace_id FROM api_keys WHERE secret_sha256 = :sha "
                        "AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())"
                    ),
                    {"sha": sha},
                )
            ).first()
            if row is None:
                return None
            # The workspace is the ledger's table: read through its query module, never joined here.
            default_model = await queries.workspace_default_model(conn, row.workspace_id)
        return Principal(key_id=row.id, workspace_id=row.workspace_id, default_model=default_model)
