"""Kafka topic names and message keys, defined once.

Ledger topics (``jobs.submitted``, ``jobs.usage``) are keyed by workspace id so that admission and
settlement of one workspace land on one partition and so have a single writer.
"""

from __future__ import annotations

from enum import StrEnum

JOBS_SUBMITTED = "jobs.submitted"
JOBS_USAGE = "jobs.usage"
JOBS_RESULTS = "jobs.results"
# Events a consumer refused permanently, with the reason and their original bytes (runtime/consume.py).
DEAD_LETTERS = "dead.letters"

# Every topic the ledger reads must have this many partitions, or Faust table/partition co-location breaks.
LEDGER_PARTITIONS = 8
DISPATCH_PARTITIONS = 8
RESULTS_PARTITIONS = 8
DEAD_LETTER_PARTITIONS = 1


class Lane(StrEnum):
    """Interactive traffic and batch traffic never share a queue, so a big batch cannot starve sync callers."""

    INTERACTIVE = "interactive"
    BATCH = "batch"


def dispatch_topic(pool: str, lane: Lane) -> str:
    """The queue a model pool's workers consume for one lane."""
    return f"dispatch.{pool}.{lane.value}"


def ledger_key(workspace_id: str) -> bytes:
    return workspace_id.encode()


def job_key(job_id: str) -> bytes:
    return job_id.encode()


def prefixed(prefix: str, topic: str) -> str:
    """Tests isolate themselves by a per-run topic prefix; production uses the empty prefix."""
    return f"{prefix}{topic}" if prefix else topic
