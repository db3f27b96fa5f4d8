"""The one consume policy: transient failures are retried, a permanent one costs exactly its own event."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import psycopg
import pytest
from aiokafka import errors as kafka_errors
from sqlalchemy import exc as sa_exc

from runtime.consume import (
    Backoff,
    PermanentFailure,
    Verdict,
    classify,
    dead_letter,
    job_identity,
    process_batch,
    retry_transient,
)
from schemas.events import EventDeadLettered, decode, encode

FAST = Backoff(initial_s=0.001, max_s=0.002)


def _wrapped(inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as cause:
            raise RuntimeError("while settling") from cause
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize(
    "error",
    [
        sa_exc.OperationalError("SELECT 1", {}, psycopg.OperationalError("connection refused")),
        psycopg.OperationalError("server closed the connection"),
        kafka_errors.KafkaConnectionError("broker down"),
        kafka_errors.KafkaTimeoutError(),
        kafka_errors.NotLeaderForPartitionError(),
        ConnectionResetError(),
        TimeoutError(),
        _wrapped(psycopg.OperationalError("deadlock detected")),
    ],
)
def test_infrastructure_failures_are_transient(error: BaseException) -> None:
    assert classify(error) is Verdict.TRANSIENT


@pytest.mark.parametrize(
    "error",
    [
        ValueError("1 validation error for UsageRecorded"),
        sa_exc.DataError("INSERT", {}, psycopg.DataError("A string literal cannot contain NUL (0x00) characters.")),
        sa_exc.IntegrityError("INSERT", {}, psycopg.IntegrityError("violates check constraint")),
        kafka_errors.MessageSizeTooLargeError(),
        PermanentFailure("model removed from the catalogue"),
        KeyError("openai/gone"),
        AssertionError("hold > 0"),
    ],
)
def test_refusals_and_bugs_are_permanent(error: BaseException) -> None:
    assert classify(error) is Verdict.PERMANENT


async def test_transient_failures_are_retried_until_they_pass() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise kafka_errors.KafkaConnectionError("broker down")
        return "done"

    assert await retry_transient(flaky, what="flaky", backoff=FAST) == "done"
    assert calls == 4


async def test_a_bounded_retry_gives_up_with_the_last_transient_error() -> None:
    async def down() -> None:
        raise ConnectionRefusedError

    with pytest.raises(ConnectionRefusedError):
        await retry_transient(down, what="down", backoff=FAST, attempts_max=3)


async def test_one_poison_event_costs_itself_and_the_good_events_are_processed() -> None:
    processed: list[int] = []
    poisoned: list[int] = []

    async def handle(batch: Sequence[int]) -> None:
        if 13 in batch:
            raise ValueError("cannot decode")
        processed.extend(batch)

    async def on_poison(event: int, error: BaseException) -> None:
        assert isinstance(error, ValueError)
        poisoned.append(event)

    await process_batch(list(range(40)), handle, on_poison=on_poison, what="test", backoff=FAST)
    assert poisoned == [13]
    assert sorted(processed) == [n for n in range(40) if n != 13]


async def test_a_transient_failure_in_a_batch_is_retried_whole_not_poisoned() -> None:
    attempts = 0
    poisoned: list[int] = []

    async def handle(batch: Sequence[int]) -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise psycopg.OperationalError("the database is restarting")

    async def on_poison(event: int, _error: BaseException) -> None:
        poisoned.append(event)

    await process_batch([1, 2, 3], handle, on_poison=on_poison, what="test", backoff=FAST)
    assert attempts == 3
    assert poisoned == []


def test_job_identity_is_read_from_events_that_do_not_decode() -> None:
    assert job_identity(b'{"job_id": "job_1", "workspace_id": "ws_1", "version": 99}') == ("job_1", "ws_1")
    assert job_identity(b'{"job_id": "job\\u0000x", "workspace_id": 7}') == (None, None)
    assert job_identity(b"\xff\xfe not json") == (None, None)
    assert job_identity(b"[1, 2]") == (None, None)


def test_a_dead_letter_keeps_the_original_bytes_and_fits_its_topic() -> None:
    value = b'{"job_id": "job_9", "workspace_id": "ws_9", "x": "' + b"a" * 400_000 + b'"}'
    record = dead_letter(
        consumer="ledger.settlement",
        topic="jobs.usage",
        partition=3,
        offset=77,
        key=b"ws_9",
        value=value,
        headers=[("traceparent", b"00-abc")],
        error=ValueError("bad"),
    )
    again = decode(EventDeadLettered, encode(record))
    assert again.job_id == "job_9"
    assert again.workspace_id == "ws_9"
    assert again.value_truncated
    assert again.value_bytes == len(value)
    assert value.startswith(base64.b64decode(again.value_b64))
    assert len(encode(record)) < 1_000_000


async def test_poison_handling_that_fails_permanently_skips_the_event_and_the_batch_goes_on() -> None:
    processed: list[int] = []

    async def handle(batch: Sequence[int]) -> None:
        if 5 in batch:
            raise ValueError("cannot decode")
        processed.extend(batch)

    async def on_poison(_event: int, _error: BaseException) -> None:
        raise PermanentFailure("the dead-letter record itself was refused")

    await process_batch(list(range(10)), handle, on_poison=on_poison, what="test", backoff=FAST)
    assert sorted(processed) == [n for n in range(10) if n != 5]
