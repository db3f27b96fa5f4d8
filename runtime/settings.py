"""Settings every service shares, read from `LUNTREX_*` environment variables once at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from runtime.catalogue_file import load_catalogue
from schemas.catalogue import Catalogue


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LUNTREX_", extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    database_url: str = "postgresql+psycopg://luntrex@127.0.0.1:5433/luntrex"
    catalogue_path: Path = Path("config/models.toml")
    # Tests isolate themselves with a per-run prefix on every topic name.
    topic_prefix: str = ""
    ready_file: Path | None = None
    log_level: str = "INFO"
    # No linger: aiokafka still batches whatever queues up while a request is in flight, and a lone sync
    # request does not wait (measured: ~0.6 ms per produce-consume hop at 0, ~1.9 ms at 1).
    kafka_linger_ms: int = Field(default=0, ge=0, le=1000)
    # The broker answers a fetch as soon as data arrives (fetch.min.bytes=1), so a long wait costs no latency
    # and stops idle consumers from polling hundreds of times a second.
    kafka_fetch_max_wait_ms: int = Field(default=200, ge=0, le=5000)
    # The largest record any producer sends and any topic and broker accept; ingress refuses (413) a request whose
    # event would not fit, and services size what they put in events (answers, prompts) to fit it.
    kafka_message_max_bytes: int = Field(default=8_388_608, ge=1_000_000, le=64 * 1_048_576)

    def load_catalogue(self) -> Catalogue:
        return load_catalogue(self.catalogue_path)
