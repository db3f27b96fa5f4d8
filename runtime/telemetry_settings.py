"""Telemetry settings every service shares: metrics, log format, and the standard OpenTelemetry variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TelemetrySettings(BaseSettings):
    """`LUNTREX_*` telemetry settings; `runtime.settings.ServiceSettings` inherits them."""

    model_config = SettingsConfigDict(env_prefix="LUNTREX_", extra="ignore")

    # Prometheus metrics: ingress serves `/metrics` on its HTTP port; the ledger and the workers serve it on
    # `metrics_port` (off when unset). Several processes of one service each get their own port.
    metrics_enabled: bool = True
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=1, le=65_535)
    # How often consumer lag and the ledger's outstanding holds are sampled (a scrape never waits on a query).
    metrics_sample_interval_s: float = Field(default=5.0, gt=0, le=3600)
    # One JSON object per line (the default), or the old human-readable text.
    log_format: Literal["json", "text"] = "json"
    # Debugging only: log prompts and answers (never keys). Off, no log line carries a prompt or an answer.
    log_payloads: bool = False


class OtelSettings(BaseSettings):
    """The standard `OTEL_*` variables the tracing pipeline reads (the SDK's exporter reads the rest itself).

    Tracing is off unless an exporter is named (`OTEL_TRACES_EXPORTER=otlp` or `console`) or an OTLP endpoint
    is set; `OTEL_SDK_DISABLED=true` turns it off whatever else is set.
    """

    model_config = SettingsConfigDict(env_prefix="OTEL_", extra="ignore")

    sdk_disabled: bool = False
    traces_exporter: str | None = None
    exporter_otlp_endpoint: str | None = None
    exporter_otlp_traces_endpoint: str | None = None
    service_name: str | None = None

    def exporter(self) -> str | None:
        """The exporter to build ("otlp" or "console"), or None: tracing off."""
        if self.sdk_disabled:
            return None
        named = (self.traces_exporter or "").strip().lower()
        if named and named != "none":
            return named
        if named != "none" and (self.exporter_otlp_endpoint or self.exporter_otlp_traces_endpoint):
            return "otlp"
        return None
