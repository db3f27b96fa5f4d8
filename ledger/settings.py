"""Settings of the ledger service."""

from __future__ import annotations

from pydantic import Field

from runtime.settings import ServiceSettings


class LedgerSettings(ServiceSettings):
    ledger_app_id: str = "luntrex-ledger"
    db_pool_size: int = Field(default=8, ge=1, le=100)
    # Events taken from a stream at once and settled in one database transaction.
    ledger_batch_max: int = Field(default=200, ge=1, le=5000)
    ledger_batch_wait_s: float = Field(default=0.002, ge=0, le=1)
    # Attempts at one batch before the process exits and leaves the batch to be redelivered.
    ledger_attempts_max: int = Field(default=6, ge=1, le=100)
