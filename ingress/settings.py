"""Settings of the HTTP ingress."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from runtime.settings import ServiceSettings

ADMIN_KEY_LENGTH_MIN = 24


class IngressSettings(ServiceSettings):
    host: str = "127.0.0.1"
    port: int = 8080
    # Several ingress processes on one address (SO_REUSEPORT): the kernel spreads new connections over them.
    reuse_port: bool = False
    instance_id: str = "ingress-1"
    # A synchronous call waits at most this long before answering 202 with a job to poll.
    sync_wait_default_s: float = Field(default=60.0, gt=0, le=900)
    # The OpenAI surface never answers 202: it waits for the job up to this, then answers 408 with the job id
    # (ingress/openai_wait.py). Below the official SDKs' default timeout (600 s), so they never time out first.
    openai_wait_max_s: float = Field(default=300.0, gt=0, le=3600)
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
    # An idle keep-alive connection is closed after this. uvicorn's 5 s equals httpx's (and so the openai
    # package's) pool expiry: a client reusing a connection just as the server closed it read a reset
    # (`httpx.ReadError`, the POST lost before it reached the app; 3 in ~5,400 streams at c=64 in `bench stream`).
    # Longer than the usual pools' expiry (httpx 5 s, aiohttp 15 s, nginx 60 s), as nginx's own 75 s is.
    http_keep_alive_s: int = Field(default=75, ge=1, le=3600)
    messages_max: int = Field(default=512, ge=1, le=100_000)
    # Requests waiting for a reply at once; past this a caller gets 503 rather than unbounded memory.
    pending_replies_max: int = Field(default=20_000, ge=1, le=1_000_000)
    # Key changes reach every replica at once through `keys.changes`; this is only how often a cached key or
    # workspace is re-read from PostgreSQL anyway (the safety net should a change fail to be announced).
    key_cache_ttl_s: float = Field(default=60.0, ge=0, le=3600)
    key_cache_entries_max: int = Field(default=100_000, ge=100, le=10_000_000)
    # Keys a workspace may mint (or rotate into) per hour; exact across replicas.
    key_mints_per_hour_max: int = Field(default=60, ge=1, le=100_000)
    db_pool_size: int = Field(default=10, ge=1, le=100)
    # How long an Idempotency-Key names the same job; a later reuse starts a new job.
    idempotency_window_s: float = Field(default=86_400.0, ge=60, le=7 * 86_400)
    # The operator's credential for `/api/v1/admin/...`; unset, the admin API refuses everyone.
    admin_key: SecretStr | None = None
    # How long an admin request waits for the ledger to apply its workspace command.
    admin_command_timeout_s: float = Field(default=15.0, gt=0, le=300)
    admin_commands_pending_max: int = Field(default=1_000, ge=1, le=100_000)

    @field_validator("admin_key", mode="before")
    @classmethod
    def _empty_admin_key_is_none(cls, value: object) -> object:
        # An empty variable (compose's `${LUNTREX_ADMIN_KEY:-}`) means no admin credential: the admin API is closed.
        return None if value == "" else value

    @field_validator("admin_key")
    @classmethod
    def _admin_key_is_long(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < ADMIN_KEY_LENGTH_MIN:
            raise ValueError(f"LUNTREX_ADMIN_KEY must be at least {ADMIN_KEY_LENGTH_MIN} characters")
        return value

    # Streams (`stream: true`, ingress/streaming.py): streams open at once on this replica, deltas buffered per
    # stream (a slower reader's later deltas arrive with the final answer instead), the longest a stream stays
    # open, and how often an idle stream sends an SSE comment so proxies keep the connection.
    streams_max: int = Field(default=10_000, ge=1, le=1_000_000)
    stream_deltas_buffered_max: int = Field(default=4096, ge=16, le=1_000_000)
    stream_wait_max_s: float = Field(default=600.0, gt=0, le=7 * 86_400)
    stream_keepalive_s: float = Field(default=15.0, gt=0, le=300)

    # Early starts (ingress/early_start.py): a copy of an interactive job sent to its worker lane beside
    # `jobs.submitted`, so the provider call overlaps the ledger's admission. Sent only for a workspace whose last
    # result here (at most `early_start_balance_fresh_s` old) left `early_start_margin` times the job's hold, with no
    # refusal in `early_start_quiet_after_refusal_s`, while at most `early_start_in_flight_max` callers wait here.
    # Turn it on only once every worker knows early starts (an older one dead-letters them, harmlessly).
    early_start: bool = True
    early_start_margin: int = Field(default=4, ge=1, le=1_000_000)
    early_start_balance_fresh_s: float = Field(default=300.0, gt=0, le=86_400)
    early_start_quiet_after_refusal_s: float = Field(default=30.0, ge=0, le=86_400)
    early_start_in_flight_max: int = Field(default=16, ge=0, le=1_000_000)
    early_start_workspaces_max: int = Field(default=100_000, ge=1, le=10_000_000)

    # An accepted job is worth running until this long after acceptance (the ledger's default too): it travels
    # with the job as `deadline_at`, past which workers drop it and the ledger expires it.
    job_deadline_s: float = Field(default=1800.0, ge=1, le=7 * 86_400)
    # The longest a request waits for the broker to acknowledge its job; a shorter `Prefer: wait` bounds it
    # further, down to `publish_timeout_min_s`. Past it the publication is ambiguous (the job may be queued).
    publish_timeout_s: float = Field(default=5.0, gt=0, le=60)
    publish_timeout_min_s: float = Field(default=0.5, gt=0, le=60)
    # While the queue is unreachable, one publication per interval probes it; the others are refused at once.
    publish_probe_interval_s: float = Field(default=1.0, gt=0, le=60)
    # Broker acknowledgements are written to the outbox in batches this often (off the request path).
    outbox_flush_interval_s: float = Field(default=0.2, gt=0, le=10)
    # How often one ingress prunes idempotency keys past their window and outbox rows of recorded jobs as old.
    outbox_prune_interval_s: float = Field(default=300.0, gt=0, le=86_400)
    outbox_prune_batch_max: int = Field(default=10_000, ge=1, le=1_000_000)
    outbox_acks_max: int = Field(default=100_000, ge=1, le=10_000_000)
    # The relay (one ingress at a time) publishes again outbox rows unconfirmed for `relay_grace_s`: longer than
    # the producer's own delivery timeout (40 s), so a relayed copy rarely duplicates a late original.
    relay_interval_s: float = Field(default=2.0, gt=0, le=600)
    relay_grace_s: float = Field(default=60.0, ge=0, le=86_400)
    relay_batch_max: int = Field(default=2000, ge=1, le=100_000)
    # Publications of one job by the relay before it leaves the row to an operator (logged at every pass).
    relay_attempts_max: int = Field(default=20, ge=1, le=10_000)

    # Batches: an upload (`POST /api/v1/batches`, `POST /api/v1/openai/files`) streams up to this many bytes
    # (every other route keeps `body_max_bytes`); a line longer than `batch_line_max_bytes` is a bad line; a batch
    # holds at most `batch_lines_max` lines and describes its first `batch_errors_max` bad ones.
    batch_body_max_bytes: int = Field(default=512 * 1_048_576, ge=1_048_576, le=8 * 1024 * 1_048_576)
    batch_line_max_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    batch_lines_max: int = Field(default=1_000_000, ge=1, le=100_000_000)
    batch_errors_max: int = Field(default=1000, ge=1, le=100_000)
    batch_completion_window_max_s: float = Field(default=7 * 86_400, ge=60, le=30 * 86_400)
    # Results are read from PostgreSQL this many lines at a time while they stream out.
    batch_results_chunk_lines: int = Field(default=1000, ge=1, le=100_000)
