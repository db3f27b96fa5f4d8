"""Settings of the model worker pools."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from runtime.settings import ServiceSettings


class WorkerSettings(ServiceSettings):
    # Pools this process serves; empty means every pool in the catalogue (the local stack runs one process).
    pools: list[str] = Field(default_factory=list)
    # Overrides of provider base URLs by provider name, e.g. to point every provider at the fake server.
    provider_base_urls: dict[str, str] = Field(default_factory=dict)
    # Jobs in flight per pool in this process; each provider also has its own cap in the catalogue.
    pool_concurrency_max: int = Field(default=256, ge=1, le=10_000)
    attempts_per_model_max: int = Field(default=3, ge=1, le=10)
    backoff_base_s: float = Field(default=0.2, ge=0, le=60)
    backoff_max_s: float = Field(default=10.0, ge=0, le=600)
    # The transport under httpx's API; aiohttp's costs far less CPU per call on this machine (see DESIGN.md).
    http_transport: Literal["aiohttp", "httpx"] = "aiohttp"
    http_connections_max: int = Field(default=512, ge=1, le=100_000)
    commit_interval_s: float = Field(default=0.2, gt=0, le=60)
