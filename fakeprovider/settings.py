"""Settings of the fake provider server, read once by its entrypoint."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class FakeProviderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LUNTREX_FAKE_", extra="ignore", populate_by_name=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8700, ge=0, le=65535)
    # Written once the server listens, so scripts and tests can wait for it without polling the port.
    ready_file: Path | None = Field(default=None, validation_alias="LUNTREX_READY_FILE")
    recorded_requests_max: int = Field(default=1000, ge=0, le=1_000_000)
    fail_counters_max: int = Field(default=10_000, ge=1, le=1_000_000)
    # A `timeout` scenario holds the request until the client gives up, but never longer than this.
    hang_max_s: float = Field(default=300.0, gt=0, le=3600)
    request_body_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
