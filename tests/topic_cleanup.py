"""Kafka topics for tests: created under prefixes of their own, deleted when the test session ends.

The test broker is shared by every run on a machine (`make test` again and again, several checkouts at once):
left in place, each run's topics (a set per topic prefix, 8 partitions each) pile up until the broker runs out
of file descriptors (seen at about 20,000 partitions). Only the topics this session created are deleted, never
another session's, so runs that share the broker do not disturb each other.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from runtime import kafka
from runtime.settings import ServiceSettings
from schemas import topics as topic_names

log = logging.getLogger(__name__)

# Bootstrap servers -> the topics this session created there.
_created: dict[str, set[str]] = {}
_DELETE_CHUNK = 100
_DELETE_TIMEOUT_S = 30.0


async def ensure_topics(settings: ServiceSettings, topics: Iterable[tuple[str, int]]) -> list[str]:
    """`runtime.kafka.ensure_topics`, remembering what it created for `delete_created`."""
    names = await kafka.ensure_topics(settings, topics)
    _created.setdefault(settings.kafka_bootstrap_servers, set()).update(names)
    return names


async def worker_topics(kafka_bootstrap: str, pool: str, *, tag: str, dispatch_partitions: int) -> str:
    """A new prefix with what one worker pool reads and writes: its two dispatch lanes, usage, dead letters."""
    prefix = f"{tag}{uuid.uuid4().hex[:8]}."
    plan = [
        (topic_names.prefixed(prefix, topic_names.JOBS_USAGE), 2),
        (topic_names.prefixed(prefix, topic_names.DEAD_LETTERS), 1),
        *(
            (topic_names.prefixed(prefix, topic_names.dispatch_topic(pool, lane)), dispatch_partitions)
            for lane in topic_names.Lane
        ),
    ]
    await ensure_topics(ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap), plan)
    return prefix


def delete_created() -> None:
    """Delete every topic `ensure_topics` created in this session; a broker already gone is skipped."""
    for bootstrap, names in _created.items():
        try:
            asyncio.run(asyncio.wait_for(_delete(bootstrap, sorted(names)), _DELETE_TIMEOUT_S))
        except (KafkaError, OSError, TimeoutError) as error:
            log.warning("test topics on %s were not deleted: %s", bootstrap, error)
    _created.clear()


async def _delete(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for start in range(0, len(names), _DELETE_CHUNK):
            await admin.delete_topics(names[start : start + _DELETE_CHUNK])
    finally:
        await admin.close()
