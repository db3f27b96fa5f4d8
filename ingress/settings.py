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
    # Enforced while the body streams in, before authentication or parsing; a larger declared
    # Content-Length is refused before a byte of the body is read.
    body_max_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    # GET, HEAD, DELETE and OPTIONS take no body; one larger than this is refused the same way.
    bodyless_body_max_bytes: int = Field(default=1024, ge=0, le=1_048_576)
    # The request line and headers together, and how many headers: past either, 431 and the connection closes.
    request_head_max_bytes: int = Field(default=65_536, ge=4096, le=1_048_576)
    request_headers_max: int = Field(default=100, ge=16, le=1000)
    # Slow senders: the request line and headers must arrive within this (from connection or first byte) ...
    header_read_timeout_s: float = Field(default=10.0, gt=0, le=300)
    # ... and the whole body within this, from the end of the headers; past either, 408 and the connection closes.
    body_read_timeout_s: float = Field(default=60.0, gt=0, le=900)
    # A connection closed while the client still sends (a refusal, an answer before the body was read) keeps
    # reading and dropping its bytes this long, so the client reads the answer rather than a reset.
    refusal_linger_s: float = Field(default=2.0, ge=0, le=30)
    messages_max: int = Field(default=512, ge=1, le=100_000)
    # Requests waiting for a reply at once; past this a caller gets 503 rather than unbounded memory.
    pending_replies_max: int = Field(default=20_000, ge=1, le=1_000_000)
    # How long a revoked or rotated key may still be served from this instance's cache.
    key_cache_ttl_s: float = Field(default=5.0, ge=0, le=300)
    db_pool_size: int = Field(default=10, ge=1, le=100)
    # How long an Idempotency-Key names the same job; a later reuse starts a new job.
    idempotency_window_s: float = Field(default=86_400.0, ge=60, le=7 * 86_400)
