"""The `api_keys` table (ingress owns it): minting, rotation, revocation, guardrail changes and listing.

A key reads `lx_live_<key id>_<secret>` (keys minted before read `lx_<key id>_<secret>` and keep working).
Only its SHA-256 is stored; the secret is shown once. Every change bumps the key's `revision` and is returned
as a `KeyChanged` state, which the caller publishes on `keys.changes` so every ingress learns of it at once.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ingress.key_policy import ALL_SCOPES, LIVE_PREFIX, KeyPower, Principal
from schemas.errors import ErrorCode, TooManyRequests
from schemas.events import KeyChanged

__all__ = ["KeyRow", "KeyView", "Principal", "create_key", "fingerprint", "list_keys", "mint", "revoke_key"]

_COLUMNS = (
    "id, workspace_id, name, secret_sha256, last4, created_at, expires_at, revoked_at, rotated_at, replaced_by, "
    "scopes, allowed_models, max_tokens_max, rpm_max, tpm_max, daily_spend_max_tokens, monthly_spend_max_tokens, "
    "revision, guardrails, guardrails_imposed"
)


def fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyRow:
    """One stored key: its state as published, its name for listings, and what its parent imposed on its
    guardrails (a workspace's keys may add to those, never remove them: `ingress/key_guardrails.py`)."""

    state: KeyChanged
    name: str
    imposed: dict[str, Any] | None = None

    @property
    def power(self) -> KeyPower:
        return power_of(self.state)


def power_of(state: KeyChanged) -> KeyPower:
    return KeyPower(
        scopes=frozenset(state.scopes),
        expires_at=state.expires_at,
        allowed_models=frozenset(state.allowed_models) if state.allowed_models is not None else None,
        max_tokens_max=state.max_tokens_max,
        rpm_max=state.rpm_max,
        tpm_max=state.tpm_max,
        daily_spend_max_tokens=state.daily_spend_max_tokens,
        monthly_spend_max_tokens=state.monthly_spend_max_tokens,
    )


def _row(row: Any) -> KeyRow:
    state = KeyChanged(
        workspace_id=row.workspace_id,
        key_id=row.id,
        revision=row.revision,
        secret_sha256=row.secret_sha256,
        scopes=tuple(row.scopes),
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        rotated_at=row.rotated_at,
        allowed_models=tuple(row.allowed_models) if row.allowed_models is not None else None,
        max_tokens_max=row.max_tokens_max,
        rpm_max=row.rpm_max,
        tpm_max=row.tpm_max,
        daily_spend_max_tokens=row.daily_spend_max_tokens,
        monthly_spend_max_tokens=row.monthly_spend_max_tokens,
        guardrails=row.guardrails,
    )
    return KeyRow(state=state, name=row.name, imposed=row.guardrails_imposed)


async def mint(
    conn: AsyncConnection,
    workspace_id: str,
    name: str,
    power: KeyPower,
    guardrails: dict[str, Any] | None = None,
    imposed: dict[str, Any] | None = None,
) -> tuple[KeyRow, str]:
    """Insert a new key (its guardrails, and the part of them its parent imposed, as `guardrail_policy.stored`
    gives them); returns it and the secret to show once."""
    key_id = secrets.token_hex(6)
    secret = f"{LIVE_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    row = (
        await conn.execute(
            text(
                "INSERT INTO api_keys (id, workspace_id, name, secret_sha256, last4, expires_at, scopes, "  # noqa: S608
                "allowed_models, max_tokens_max, rpm_max, tpm_max, daily_spend_max_tokens, monthly_spend_max_tokens, "
                "guardrails, guardrails_imposed) VALUES (:id, :ws, :name, :sha, :last4, :expires_at, :scopes, :models, "
                ":max_tokens, :rpm, :tpm, :daily, :monthly, CAST(:guardrails AS jsonb), CAST(:imposed AS jsonb)) "
                f"RETURNING {_COLUMNS}"
            ),
            {
                "id": key_id,
                "ws": workspace_id,
                "name": name,
                "sha": fingerprint(secret),
                "last4": secret[-4:],
                "expires_at": power.expires_at,
                "scopes": sorted(power.scopes),
                "models": sorted(power.allowed_models) if power.allowed_models is not None else None,
                "max_tokens": power.max_tokens_max,
                "rpm": power.rpm_max,
                "tpm": power.tpm_max,
                "daily": power.daily_spend_max_tokens,
                "monthly": power.monthly_spend_max_tokens,
                "guardrails": json.dumps(guardrails) if guardrails else None,
                "imposed": json.dumps(imposed) if imposed else None,
            },
        )
    ).one()
    return _row(row), secret


async def create_key(
    conn: AsyncConnection, workspace_id: str, name: str, *, expires_in_s: float | None = None
) -> tuple[str, str]:
    """Mint an operator key with every scope (the seed, tests, bench); returns (key id, secret)."""
    expires_at = None
    if expires_in_s is not None:
        now = (await conn.execute(text("SELECT now()"))).scalar_one()
        expires_at = now + timedelta(seconds=expires_in_s)
    row, secret = await mint(conn, workspace_id, name, KeyPower(scopes=ALL_SCOPES, expires_at=expires_at))
    return row.state.key_id, secret


async def enforce_mint_rate(conn: AsyncConnection, workspace_id: str, *, per_hour_max: int) -> None:
    """Exact across replicas: a per-workspace transaction lock, then a count of the last hour's mints."""
    await conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended('api_keys:' || :ws, 0))"), {"ws": workspace_id}
    )
    minted = (
        await conn.execute(
            text("SELECT count(*) FROM api_keys WHERE workspace_id = :ws AND created_at > now() - interval '1 hour'"),
            {"ws": workspace_id},
        )
    ).scalar_one()
    if minted >= per_hour_max:
        raise TooManyRequests(
            f"this workspace minted {minted} keys in the last hour (limit {per_hour_max}); try again later",
            code=ErrorCode.KEY_MINTS_EXCEEDED,
            retry_after_s=60,
        )


async def lock_key(conn: AsyncConnection, key_id: str, workspace_id: str | None) -> KeyRow | None:
    """A key and a row lock on it; with a workspace, another workspace's key is reported as absent."""
    row = (
        await conn.execute(
            text(
                f"SELECT {_COLUMNS} FROM api_keys WHERE id = :id "  # noqa: S608
                "AND (CAST(:ws AS text) IS NULL OR workspace_id = :ws) FOR UPDATE"
            ),
            {"id": key_id, "ws": workspace_id},
        )
    ).first()
    return _row(row) if row is not None else None


async def mark_rotated(conn: AsyncConnection, key_id: str, *, successor_id: str, grace_s: float) -> KeyRow:
    """The old key of a rotation keeps working for `grace_s` more seconds, then stops."""
    row = (
        await conn.execute(
            text(
                "UPDATE api_keys SET rotated_at = now(), replaced_by = :successor, "  # noqa: S608
                "expires_at = least(coalesce(expires_at, 'infinity'), now() + make_interval(secs => :grace)), "
                f"revision = revision + 1 WHERE id = :id RETURNING {_COLUMNS}"
            ),
            {"id": key_id, "successor": successor_id, "grace": grace_s},
        )
    ).one()
    return _row(row)


async def set_guardrails(
    conn: AsyncConnection, key_id: str, guardrails: dict[str, Any] | None, imposed: dict[str, Any] | None
) -> KeyRow:
    """Replace a key's guardrails (and what is imposed on them) in a transaction that holds its row lock; the new
    revision makes every replica compile the new set once (`KeyDirectory`)."""
    row = (
        await conn.execute(
            text(
                "UPDATE api_keys SET guardrails = CAST(:guardrails AS jsonb), "  # noqa: S608
                "guardrails_imposed = CAST(:imposed AS jsonb), revision = revision + 1 "
                f"WHERE id = :id RETURNING {_COLUMNS}"
            ),
            {
                "id": key_id,
                "guardrails": json.dumps(guardrails) if guardrails else None,
                "imposed": json.dumps(imposed) if imposed else None,
            },
        )
    ).one()
    return _row(row)


async def find_key(conn: AsyncConnection, key_id: str, workspace_id: str | None) -> KeyRow | None:
    """A key, live or not; with a workspace, another workspace's key is reported as absent."""
    row = (
        await conn.execute(
            text(
                f"SELECT {_COLUMNS} FROM api_keys WHERE id = :id "  # noqa: S608
                "AND (CAST(:ws AS text) IS NULL OR workspace_id = :ws)"
            ),
            {"id": key_id, "ws": workspace_id},
        )
    ).first()
    return _row(row) if row is not None else None


async def revoke(conn: AsyncConnection, key_id: str, workspace_id: str | None) -> KeyRow | None:
    """Revoke a key for good; revoking it again changes nothing but returns its state (to re-publish)."""
    row = (
        await conn.execute(
            text(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()), revision = revision + 1 "  # noqa: S608
                "WHERE id = :id AND (CAST(:ws AS text) IS NULL OR workspace_id = :ws) "
                f"RETURNING {_COLUMNS}"
            ),
            {"id": key_id, "ws": workspace_id},
        )
    ).first()
    return _row(row) if row is not None else None


async def revoke_key(conn: AsyncConnection, workspace_id: str, key_id: str) -> bool:
    return await revoke(conn, key_id, workspace_id) is not None


async def key_state(conn: AsyncConnection, key_id: str) -> KeyChanged | None:
    row = (
        await conn.execute(text(f"SELECT {_COLUMNS} FROM api_keys WHERE id = :id"), {"id": key_id})  # noqa: S608
    ).first()
    return _row(row).state if row is not None else None


@dataclass(frozen=True, slots=True)
class KeyView:
    """A key as its workspace sees it: never the secret, which is shown once at creation."""

    id: str
    name: str
    last4: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    rotated_at: datetime | None
    replaced_by: str | None
    scopes: list[str]
    allowed_models: list[str] | None
    max_tokens_max: int | None
    rpm_max: int | None
    tpm_max: int | None
    daily_spend_max_tokens: int | None
    monthly_spend_max_tokens: int | None
    guardrails: dict[str, Any] | None


async def list_keys(conn: AsyncConnection, workspace_id: str) -> list[KeyView]:
    rows = await conn.execute(
        text(
            "SELECT id, name, last4, created_at, expires_at, "
            "revoked_at, rotated_at, replaced_by, scopes, allowed_models, max_tokens_max, rpm_max, tpm_max, "
            "daily_spend_max_tokens, monthly_spend_max_tokens, guardrails FROM api_keys WHERE workspace_id = :ws "
            "ORDER BY created_at, id"
        ),
        {"ws": workspace_id},
    )
    return [KeyView(**row._mapping) for row in rows]
