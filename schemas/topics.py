"""Kafka topic names and message keys, defined once.

Ledger topics (``jobs.submitted``, ``jobs.usage``) are keyed by workspace id so that admission and
settlement of one workspace land on one partition and so have a single writer.
"""

from __future__ import annotations

from enum import StrEnum

JOBS_SUBMITTED = "jobs.submitted"
JOBS_USAGE = "jobs.usage"
JOBS_RESULTS = "jobs.results"
# Answer deltas of streamed jobs, keyed by job id; every ingress replica reads it (as it reads `jobs.results`)
# and forwards the deltas of the streams it holds. Not money: the billed answer still travels in `jobs.usage`.
JOBS_STREAM = "jobs.stream"
# Events a consumer refused permanently, with the reason and their original bytes (runtime/consume.py).
DEAD_LETTERS = "dead.letters"
# Admin commands for the ledger (workspace create/update/suspend, credit grants), keyed by workspace id.
LEDGER_COMMANDS = "ledger.commands"
# The ledger's answer to each command, keyed by command id; ingress waits on it.
LEDGER_REPLIES = "ledger.replies"
# Compacted state topics every ingress reads from the beginning: the newest state of each key (written by
# ingress, keyed by key id) and of each workspace (written by the ledger, keyed by workspace id).
KEYS_CHANGES = "keys.changes"
WORKSPACES_CHANGES = "workspaces.changes"
COMPACTED = frozenset({KEYS_CHANGES, WORKSPACES_CHANGES})

# Every topic the ledger reads must have this many partitions, or Faust table/partition co-location breaks.
LEDGER_PARTITIONS = 8
DISPATCH_PARTITIONS = 8
RESULTS_PARTITIONS = 8
STREAM_PARTITIONS = 8
DEAD_LETTER_PARTITIONS = 1
# State topics are small and read whole by every ingress: one partition keeps each reader's position simple.
STATE_PARTITIONS = 1


# A `jobs.usage` record's lane (`interactive` or `batch`), set by the worker that ran the job: the ledger settles
# the lanes apart without decoding the record first. A record without it counts as interactive.
LANE_HEADER = "luntrex-lane"
# Marks an early start on a dispatch topic (schemas/events.py `ChatJobEarlyStart`): a copy of a job ingress sends
# its worker lane beside `jobs.submitted`, which the worker may start but must not publish until the dispatch.
EARLY_START_HEADER = "luntrex-early-start"


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


def is_compacted(name: str) -> bool:
    """Whether a (possibly prefixed) topic keeps only the newest record per key."""
    return any(name == base or name.endswith(f".{base}") for base in COMPACTED)


def prefixed(prefix: str, topic: str) -> str:
    """Tests isolate themselves by a per-run topic prefix; production uses the empty prefix."""
    return f"{prefix}{topic}" if prefix else topic
