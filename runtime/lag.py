"""Samples Kafka consumer lag per group and partition: the log end offset minus the group's committed offset.

Committed offsets are what a restarted consumer resumes from, so this is the work a group still owes. A
sample costs one offsets request per group and one end-offsets request, every `metrics_sample_interval_s`;
a scrape only reads the gauge. Works the same for aiokafka groups and the ledger's Faust group.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import Gauge

from runtime.kafka import stop_consumer
from runtime.settings import ServiceSettings

log = logging.getLogger(__name__)


class LagMonitor:
    def __init__(self, settings: ServiceSettings, groups: Callable[[], list[str]], gauge: Gauge) -> None:
        self._settings = settings
        self._groups = groups
        self._gauge = gauge
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None
        self._seen: set[tuple[str, str, str]] = set()

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._offsets is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self._settings.kafka_bootstrap_servers)
            await admin.start()
            offsets = AIOKafkaConsumer(bootstrap_servers=self._settings.kafka_bootstrap_servers, group_id=None)
            await offsets.start()
            self._admin, self._offsets = admin, offsets
        return self._admin, self._offsets

    async def sample(self) -> None:
        """Update the gauge for every partition the groups have committed; drop partitions they no longer have."""
        admin, offsets = await self._clients()
        current: set[tuple[str, str, str]] = set()
        for group in self._groups():
            committed: dict[TopicPartition, object] = await admin.list_consumer_group_offsets(group)
            if not committed:
                continue
            ends = await offsets.end_offsets(list(committed))
            for tp, meta in committed.items():
                position = getattr(meta, "offset", -1)
                lag = ends.get(tp, 0) - (position if position >= 0 else 0)
                labels = (group, tp.topic, str(tp.partition))
                self._gauge.labels(*labels).set(max(lag, 0))
                current.add(labels)
        for gone in self._seen - current:
            self._gauge.remove(*gone)
        self._seen = current

    async def run(self) -> None:
        """Sample forever; a failed sample (the broker away) is logged and tried again next interval."""
        while True:
            try:
                await self.sample()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - a sample's failure is said and tried again, never fatal
                log.warning("sampling consumer lag failed (%s: %s)", type(error).__name__, error)
            await asyncio.sleep(self._settings.metrics_sample_interval_s)

    async def close(self) -> None:
        admin, offsets, self._admin, self._offsets = self._admin, self._offsets, None, None
        if offsets is not None:
            await stop_consumer(offsets)
        if admin is not None:
            await admin.close()
