"""Settings of the ledger service."""

from __future__ import annotations

from pydantic import Field

from runtime.settings import ServiceSettings


class LedgerSettings(ServiceSettings):
    ledger_app_id: str = "luntrex-ledger"
    db_pool_size: int = Field(default=8, ge=1, le=100)
    # Events taken from a stream at once and settled in one database transaction. The wait is how long a
    # lone event waits for company: it is added to every sync call twice, and shorter costs idle wake-ups.
    ledger_batch_max: int = Field(default=500, ge=1, le=5000)
    ledger_batch_wait_s: float = Field(default=0.001, ge=0.0002, le=1)
    # A ledger that dies silently loses its partitions to a live one after this long.
    ledger_session_timeout_s: float = Field(default=10.0, ge=6, le=300)
    # Attempts at one batch before the process exits and leaves the batch to be redelivered.
    ledger_attempts_max: int = Field(default=6, ge=1, le=100)
