"""Settings every service shares, read from `LUNTREX_*` environment variables once at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from runtime.catalogue_file import load_catalogue
from runtime.telemetry_settings import TelemetrySettings
from schemas.catalogue import Catalogue

MIB = 1_048_576


class ServiceSettings(TelemetrySettings):
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
    # How long the broker holds a group consumer's (the pools') fetch when nothing is new. It answers as soon as a
    # record arrives for any partition the fetch names (fetch.min.bytes=1), so the wait delays no record: it sets
    # how often an idle consumer asks again (each empty fetch costs aiokafka ~0.3 ms of CPU; at 200 ms the eight
    # pool consumers of an idle worker spent ~12 ms of CPU per second on them). A pool pauses and resumes all its
    # partitions together, so a fetch held while it is paused names the partitions it resumes and is answered as
    # soon as one gets a record. The one wait it adds: after a rebalance the new assignment's first fetch queues
    # behind the old one still held by the broker (one request at a time per connection), at most this long,
    # beside the seconds a rebalance takes. Heartbeats and commits have a connection of their own.
    kafka_fetch_max_wait_ms: int = Field(default=1000, ge=0, le=5000)
    # Topic durability. One local broker: 1 and 1. A three-broker cluster: 3 and 2, so a write (acks=all) is
    # acknowledged once two replicas hold it and one broker can be down without stopping writes or losing one.
    kafka_replication_factor: int = Field(default=1, ge=1, le=16)
    kafka_min_insync_replicas: int = Field(default=1, ge=1, le=16)
    # The largest record any hop carries, one number for the producers' max_request_size, the consumers'
    # fetch sizes, every topic's max.message.bytes and the broker's message.max.bytes, so an event accepted at
    # one hop fits all the others. An event from a 1 MiB request body stays under 1 MiB of text, which JSON
    # escaping can grow six-fold (a control character becomes \u0001): 8 MiB covers that plus the envelope.
    kafka_message_max_bytes: int = Field(default=8 * MIB, ge=1_000_000, le=64 * MIB)
    # Allocations between two collections of the youngest generation, once the service is up (runtime/heap.py;
    # CPython's default is 700).
    gc_young_threshold: int = Field(default=50_000, ge=700, le=10_000_000)

    @model_validator(mode="after")
    def _insync_within_replicas(self) -> Self:
        if self.kafka_min_insync_replicas > self.kafka_replication_factor:
            raise ValueError(
                f"kafka_min_insync_replicas ({self.kafka_min_insync_replicas}) exceeds kafka_replication_factor "
                f"({self.kafka_replication_factor}): no write could ever be acknowledged"
            )
        return self

    def load_catalogue(self) -> Catalogue:
        return load_catalogue(self.catalogue_path)
