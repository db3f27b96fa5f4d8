"""Settings of the model worker pools."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from runtime.settings import ServiceSettings
from workers.providers.base import RESPONSE_MAX_BYTES_DEFAULT

# Room in a usage event for everything but the answer: ids, counts, a bounded error message.
USAGE_EVENT_OVERHEAD_BYTES = 64 * 1024


class WorkerSettings(ServiceSettings):
    # Pools this process serves; empty means every pool in the catalogue (the local stack runs one process).
    pools: list[str] = Field(default_factory=list)
    # Overrides of provider base URLs by provider name, e.g. to point every provider at the fake server.
    provider_base_urls: dict[str, str] = Field(default_factory=dict)
    # Jobs in flight per pool in this process; each provider also has its own cap in the catalogue.
    pool_concurrency_max: int = Field(default=256, ge=1, le=10_000)
    # Batch jobs in flight per pool in this process: the batch lane has its own consumer and its own cap, so a
    # batch backlog never fills the interactive lane's slots. As large as the feeder's in-flight cap per pool
    # (`LUNTREX_BATCH_IN_FLIGHT_MAX`): a pool full below it pauses its partitions, aiokafka drops the records it
    # had fetched for a paused partition, and every freed slot then costs a new fetch. At 128 that cost 22 % of
    # the batch throughput (`python -m bench batch`); jobs past the provider's batch share wait at the provider
    # limiter (workers/lanes.py) as parked coroutines, which cost nothing.
    pool_batch_concurrency_max: int = Field(default=512, ge=1, le=10_000)
    # The batch lane publishes its usage events through a producer of its own that waits this long to fill a
    # request (the interactive lane's producer keeps `kafka_linger_ms`, no wait): one produce request carries
    # many batch jobs' usage instead of one each, which costs the workers and the broker far less per job.
    batch_kafka_linger_ms: int = Field(default=20, ge=0, le=1000)
    # ...and fills batches of up to this many bytes per partition. Usage events are keyed by workspace, so a
    # batch's usage all goes to one partition, and the feeder releases hundreds of its jobs at once: at aiokafka's
    # default (16 KiB, ~20 usage events) every send past the 20th waited for the batch before it to be sent and
    # acknowledged, one request at a time (`asyncio.wait` per waiting send: 3 % of the workers' CPU).
    batch_kafka_batch_bytes_max: int = Field(default=512 * 1024, ge=16_384, le=8 * 1024 * 1024)
    # Of each provider's `concurrency_max`, the share batch jobs may hold at most (the rest is always free for
    # interactive jobs) and the share they get first when both lanes wait (so batches keep progressing).
    batch_provider_share_max: float = Field(default=0.75, gt=0, le=1)
    batch_provider_share_min: float = Field(default=0.1, gt=0, le=1)
    # Early starts (workers/early_start.py): provider calls begun before their dispatch, per interactive lane of a
    # pool at most this many at once (past it an early start is ignored and its job waits for its dispatch); one
    # no dispatch claims within `early_start_claim_wait_s` is cancelled; one older than `early_start_fresh_s` when
    # read (a backlog, a replay after a restart) is ignored.
    early_start_calls_max: int = Field(default=256, ge=0, le=10_000)
    early_start_claim_wait_s: float = Field(default=10.0, gt=0, le=600)
    early_start_fresh_s: float = Field(default=2.0, gt=0, le=60)
    # A streamed early call's deltas go out at once (ingress holds them until the ledger's held notice), or are kept
    # here until the dispatch claims the call (less work beside the admission on a machine with no core to spare).
    early_start_deltas_before_hold: bool = True
    attempts_per_model_max: int = Field(default=3, ge=1, le=10)
    backoff_base_s: float = Field(default=0.2, ge=0, le=60)
    backoff_max_s: float = Field(default=10.0, ge=0, le=600)
    # The transport under httpx's API; aiohttp's costs far less CPU per call on this machine (see DESIGN.md).
    http_transport: Literal["aiohttp", "httpx"] = "aiohttp"
    http_connections_max: int = Field(default=512, ge=1, le=100_000)
    # Offsets are committed this long after a job finishes (one commit for whatever finished meanwhile); an idle
    # pool, with nothing finished, does not wake up for it.
    commit_interval_s: float = Field(default=0.2, gt=0, le=60)
    # A pool that does not poll for this long is evicted from its group and its jobs run again elsewhere.
    # Pools never block their poll loop (a saturated pool pauses its partitions and keeps polling).
    kafka_max_poll_interval_ms: int = Field(default=300_000, ge=1_000, le=3_600_000)
    # On a rebalance, how long a pool waits for the jobs of partitions it gives up (so they are not run again by
    # the next owner); under the group's rebalance timeout (the session timeout, 10 s).
    revoke_wait_s: float = Field(default=5.0, ge=0, le=9)
    # How long one poll waits for records; well under the poll interval. A poll returns as soon as a record is
    # fetched, and a paused pool is resumed by its finishing jobs, not by the poll loop: this only sets how often
    # an idle pool's loop wakes up for nothing (and how soon a dead offset committer takes the pool down).
    poll_wait_ms: int = Field(default=5000, ge=1, le=10_000)
    # The largest provider response read, which bounds the answer: a larger one fails the job (upstream_error)
    # instead of making a usage event too big for Kafka. The default leaves room for JSON escaping.
    provider_response_max_bytes: int = Field(default=RESPONSE_MAX_BYTES_DEFAULT, ge=1_024)

    @model_validator(mode="after")
    def _answers_fit_usage_events(self) -> WorkerSettings:
        if self.provider_response_max_bytes + USAGE_EVENT_OVERHEAD_BYTES > self.kafka_message_max_bytes:
            raise ValueError(
                f"provider_response_max_bytes ({self.provider_response_max_bytes}) plus "
                f"{USAGE_EVENT_OVERHEAD_BYTES} bytes of event must fit kafka_message_max_bytes "
                f"({self.kafka_message_max_bytes})"
            )
        if self.batch_provider_share_min > self.batch_provider_share_max:
            raise ValueError("batch_provider_share_min must not exceed batch_provider_share_max")
        if self.poll_wait_ms * 2 > self.kafka_max_poll_interval_ms:
            raise ValueError("poll_wait_ms must be well under kafka_max_poll_interval_ms")
        return self
