"""Creates every topic the stack uses (`python -m runtime.topics`), with the partition counts it relies on."""

from __future__ import annotations

import argparse
import asyncio

from runtime.kafka import ensure_topics
from runtime.settings import ServiceSettings
from schemas import topics
from schemas.catalogue import Catalogue


def topic_plan(catalogue: Catalogue, prefix: str = "") -> list[tuple[str, int]]:
    plan = [
        (topics.prefixed(prefix, topics.JOBS_SUBMITTED), topics.LEDGER_PARTITIONS),
        (topics.prefixed(prefix, topics.JOBS_USAGE), topics.LEDGER_PARTITIONS),
        (topics.prefixed(prefix, topics.JOBS_RESULTS), topics.RESULTS_PARTITIONS),
        (topics.prefixed(prefix, topics.DEAD_LETTERS), topics.DEAD_LETTER_PARTITIONS),
        (topics.prefixed(prefix, topics.LEDGER_COMMANDS), topics.LEDGER_PARTITIONS),
        (topics.prefixed(prefix, topics.LEDGER_REPLIES), topics.RESULTS_PARTITIONS),
        (topics.prefixed(prefix, topics.KEYS_CHANGES), topics.STATE_PARTITIONS),
        (topics.prefixed(prefix, topics.WORKSPACES_CHANGES), topics.STATE_PARTITIONS),
    ]
    for pool in sorted(catalogue.pools()):
        for lane in topics.Lane:
            plan.append((topics.prefixed(prefix, topics.dispatch_topic(pool, lane)), topics.DISPATCH_PARTITIONS))
    return plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: settings)")
    args = parser.parse_args()
    settings = ServiceSettings()
    bootstrap = args.bootstrap or settings.kafka_bootstrap_servers
    created = asyncio.run(ensure_topics(bootstrap, topic_plan(settings.load_catalogue(), settings.topic_prefix)))
    print(f"topics created: {', '.join(created) if created else 'none (all exist)'}")


if __name__ == "__main__":
    main()
