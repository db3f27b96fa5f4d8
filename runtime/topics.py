"""Creates every topic the stack uses (`python -m runtime.topics`), with the partition counts it relies on."""

from __future__ import annotations

import argparse
import asyncio

from runtime.kafka import config_drift, ensure_topics
from runtime.settings import ServiceSettings
from schemas import topics
from schemas.catalogue import Catalogue
from schemas.finance import FINANCE_EVENTS, FINANCE_PARTITIONS


def topic_plan(catalogue: Catalogue, prefix: str = "") -> list[tuple[str, int]]:
    plan = [
        (topics.prefixed(prefix, topics.JOBS_SUBMITTED), topics.LEDGER_PARTITIONS),
        (topics.prefixed(prefix, topics.JOBS_USAGE), topics.LEDGER_PARTITIONS),
        (topics.prefixed(prefix, topics.JOBS_RESULTS), topics.RESULTS_PARTITIONS),
        (topics.prefixed(prefix, topics.JOBS_STREAM), topics.STREAM_PARTITIONS),
        (topics.prefixed(prefix, topics.DEAD_LETTERS), topics.DEAD_LETTER_PARTITIONS),
        (topics.prefixed(prefix, topics.LEDGER_COMMANDS), topics.LEDGER_PARTITIONS),
        (topics.prefixed(prefix, topics.LEDGER_REPLIES), topics.RESULTS_PARTITIONS),
        (topics.prefixed(prefix, topics.KEYS_CHANGES), topics.STATE_PARTITIONS),
        (topics.prefixed(prefix, topics.WORKSPACES_CHANGES), topics.STATE_PARTITIONS),
        (topics.prefixed(prefix, FINANCE_EVENTS), FINANCE_PARTITIONS),
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
    if args.bootstrap:
        settings = settings.model_copy(update={"kafka_bootstrap_servers": args.bootstrap})
    plan = topic_plan(settings.load_catalogue(), settings.topic_prefix)
    created = asyncio.run(ensure_topics(settings, plan))
    print(f"topics created: {', '.join(created) if created else 'none (all exist)'}")
    # Existing topics keep their configuration; say where it differs rather than change it unasked.
    for line in asyncio.run(config_drift(settings, [name for name, _ in plan if name not in created])):
        print(f"warning: {line} (kafka-configs.sh --alter --entity-type topics --add-config ...)")


if __name__ == "__main__":
    main()
