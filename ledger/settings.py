"""Settings of the ledger service."""

from __future__ import annotations

from pydantic import Field

from runtime.settings import ServiceSettings


class LedgerSettings(ServiceSettings):
    ledger_app_id: str = "luntrex-ledger"
    db_pool_size: int = Field(default=8, ge=1, le=100)
    # The most events settled in one database transaction; a batch is whatever is waiting, up to this.
    ledger_batch_max: int = Field(default=500, ge=1, le=5000)
    # A job still queued after this long is expired and its hold released (nothing is lost or held forever).
    job_deadline_s: float = Field(default=1800.0, ge=1, le=7 * 86_400)
    expiry_sweep_interval_s: float = Field(default=30.0, gt=0, le=3600)
    expiry_sweep_max: int = Field(default=1000, ge=1, le=100_000)
    # A ledger that dies silently loses its partitions to a live one after this long.
    ledger_session_timeout_s: float = Field(default=10.0, ge=6, le=300)
    # Attempts at one batch before the process exits and leaves the batch to be redelivered.
    ledger_attempts_max: int = Field(default=6, ge=1, le=100)
