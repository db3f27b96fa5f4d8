"""`Idempotency-Key`: the same key and body within the window name the same job, never a second charge.

The first request with a key claims it (insert, unique per workspace); a retry with the same body gets the
first request's job, whether that job is still running or long finished; the same key with a different
body is a 409. After the window (24 h by default) a key may be claimed again by a new request. A job that
failed with nothing charged may be retried under its key: the key then names the new attempt.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from schemas.errors import IdempotencyConflict, InvalidRequest

KEY_LENGTH_MAX = 255


@dataclass(frozen=True, slots=True)
class Claim:
    job_id: str
    replayed: bool


def normalise_key(header: str) -> str:
    """Accept the draft's structured-field string (`"abc"`) and the common bare form (`abc`)."""
    key = header.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key or len(key) > KEY_LENGTH_MAX or not key.isprintable():
        raise InvalidRequest(f"Idempotency-Key must be 1 to {KEY_LENGTH_MAX} printable characters")
    return key


def request_fingerprint(endpoint: str, body: bytes) -> str:
    return hashlib.sha256(endpoint.encode() + b"\n" + body).hexdigest()


_CLAIM = text(
    """
    INSERT INTO idempotency_keys AS k (workspace_id, key, request_sha256, job_id)
    VALUES (:ws, :key, :sha, :job)
    ON CONFLICT (workspace_id, key) DO UPDATE
        SET request_sha256 = EXCLUDED.request_sha256, job_id = EXCLUDED.job_id, created_at = now()
        WHERE k.created_at < now() - make_interval(secs => :window_s)
    RETURNING job_id
    """
)


async def claim(
    conn: AsyncConnection, *, workspace_id: str, key: str, fingerprint: str, job_id: str, window_s: float
) -> Claim:
    """Claim `key` for `job_id`, or return the job that already holds it.

    Runs in the caller's transaction, which also records the job in the outbox: the claim and the job it
    names become durable together or not at all.
    """
    claimed = (
        await conn.execute(
            _CLAIM, {"ws": workspace_id, "key": key, "sha": fingerprint, "job": job_id, "window_s": window_s}
        )
    ).first()
    if claimed is not None:
        return Claim(job_id=job_id, replayed=False)
    existing = (
        await conn.execute(
            text("SELECT request_sha256, job_id FROM idempotency_keys WHERE workspace_id = :ws AND key = :key"),
            {"ws": workspace_id, "key": key},
        )
    ).one()
    if existing.request_sha256 != fingerprint:
        raise IdempotencyConflict("this Idempotency-Key was already used with a different request body")
    return Claim(job_id=existing.job_id, replayed=True)


async def retake(conn: AsyncConnection, *, workspace_id: str, key: str, failed_job_id: str, job_id: str) -> bool:
    """Let the key name `job_id`, a new attempt after `failed_job_id` failed with nothing charged.

    Compare-and-set: of concurrent retries only one replaces the failed job; the others join its attempt.
    """
    result = await conn.execute(
        text(
            "UPDATE idempotency_keys SET job_id = :job, created_at = now() "
            "WHERE workspace_id = :ws AND key = :key AND job_id = :failed RETURNING job_id"
        ),
        {"ws": workspace_id, "key": key, "failed": failed_job_id, "job": job_id},
    )
    return result.first() is not None


async def release(conn: AsyncConnection, *, workspace_id: str, key: str, job_id: str) -> None:
    """Give a key back when its job could not be queued, so a retry starts afresh instead of waiting for
    a job that will never exist. Only the claim for this very job is removed."""
    await conn.execute(
        text("DELETE FROM idempotency_keys WHERE workspace_id = :ws AND key = :key AND job_id = :job"),
        {"ws": workspace_id, "key": key, "job": job_id},
    )
