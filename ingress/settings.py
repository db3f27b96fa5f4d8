"""Settings of the HTTP ingress."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from runtime.settings import ServiceSettings

ADMIN_KEY_LENGTH_MIN = 24


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

    @field_validator("admin_key")
    @classmethod
    def _admin_key_is_long(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < ADMIN_KEY_LENGTH_MIN:
            raise ValueError(f"LUNTREX_ADMIN_KEY must be at least {ADMIN_KEY_LENGTH_MIN} characters")
        return value
