"""Settings of the HTTP ingress."""

from __future__ import annotations

from pydantic import Field

from runtime.settings import ServiceSettings


class IngressSettings(ServiceSettings):
    host: str = "127.0.0.1"
    port: int = 8080
    instance_id: str = "ingress-1"
    # A synchronous call waits at most this long before answering 202 with a job to poll.
    sync_wait_default_s: float = Field(default=60.0, gt=0, le=900)
    body_max_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    messages_max: int = Field(default=512, ge=1, le=100_000)
    # Requests waiting for a reply at once; past this a caller gets 503 rather than unbounded memory.
    pending_replies_max: int = Field(default=20_000, ge=1, le=1_000_000)
    # How long a revoked or rotated key may still be served from this instance's cache.
    key_cache_ttl_s: float = Field(default=5.0, ge=0, le=300)
    db_pool_size: int = Field(default=10, ge=1, le=100)
    # How long an Idempotency-Key names the same job; a later reuse starts a new job.
    idempotency_window_s: float = Field(default=86_400.0, ge=60, le=7 * 86_400)
