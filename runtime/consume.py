"""The one consume policy every consumer follows: a failure is transient or permanent, never fatal.

- **Transient** (the database or the broker is unreachable, a deadlock, a timeout): the work is retried with
  bounded backoff, forever if need be; nothing is committed meanwhile and the process never exits over it.
- **Permanent** (undecodable, invalid, refused by a rule or a constraint): it is that one event's failure,
  not the consumer's. A batch that fails permanently is split until the bad event stands alone; the good
  events are processed, the bad one is handed to the consumer's `on_poison` (dead-letter it, end its job with
  its hold released), and the consumer commits and goes on.

Used by the ledger (Faust), the worker pools and the ingress reply reader (aiokafka), whichever client
delivers their events.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import psycopg
from aiokafka import errors as kafka_errors
from sqlalchemy import exc as sa_exc

from schemas.events import EventDeadLettered

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# How much of a poison event's original bytes a dead letter keeps; more would not fit the topic's limit.
DEAD_LETTER_VALUE_MAX_BYTES = 256 * 1024


class Verdict(StrEnum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"


class PermanentFailure(Exception):
    """Raised by a handler for an event no retry can fix (refused by a rule); carries a stable reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def classify(error: BaseException) -> Verdict:
    """Transient when any error in the chain says the infrastructure failed; permanent otherwise."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_transient(current):
            return Verdict.TRANSIENT
        current = current.__cause__ or current.__context__
    return Verdict.PERMANENT


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, PermanentFailure):
        return False
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)):
        return True
    if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)):
        return True
    # A produce that timed out is the broker's absence, though aiokafka does not flag it retriable.
    if isinstance(error, kafka_errors.KafkaTimeoutError):
        return True
    if isinstance(error, kafka_errors.KafkaError):
        return bool(error.retriable)
    return isinstance(error, (ConnectionError, TimeoutError))


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential delays between attempts at transient failures, capped so recovery is noticed soon."""

    initial_s: float = 0.1
    max_s: float = 5.0

    def delay_s(self, attempt: int) -> float:
        return float(min(self.max_s, self.initial_s * 2 ** min(attempt, 30)))


async def retry_transient(
    operation: Callable[[], Awaitable[R]], *, what: str, backoff: Backoff = Backoff(), attempts_max: int | None = None
) -> R:
    """Run `operation`, retrying transient failures with backoff; a permanent failure is raised at once.

    With `attempts_max` the last transient failure is raised too (for callers bounded by a deadline).
    """
    attempt = 0
    while True:
        try:
            return await operation()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if classify(error) is Verdict.PERMANENT:
                raise
            attempt += 1
            if attempts_max is not None and attempt >= attempts_max:
                raise
            delay_s = backoff.delay_s(attempt)
            log.warning(
                "%s failed transiently (%s: %s); retry %d in %.2fs", what, type(error).__name__, error, attempt, delay_s
            )
            await asyncio.sleep(delay_s)


async def process_batch(
    batch: Sequence[T],
    handle: Callable[[Sequence[T]], Awaitable[None]],
    *,
    on_poison: Callable[[T, BaseException], Awaitable[None]],
    what: str,
    backoff: Backoff = Backoff(),
) -> None:
    """Process a batch to completion: transient failures are retried, permanent ones isolated by halving.

    Every step of `handle` must be idempotent: after a failure part of the batch may already be done.
    Returns only when every event is processed or handed to `on_poison`; safe to commit after it.
    """
    if not batch:
        return
    try:
        await retry_transient(lambda: handle(batch), what=what, backoff=backoff)
        return
    except asyncio.CancelledError:
        raise
    except Exception as error:  # noqa: BLE001 - the policy's one broad catch: a permanent failure is isolated below
        if len(batch) == 1:
            log.error("%s: poison event refused permanently (%s: %s)", what, type(error).__name__, error)
            await _hand_over_poison(batch[0], error, on_poison, what=what, backoff=backoff)
            return
    middle = len(batch) // 2
    await process_batch(batch[:middle], handle, on_poison=on_poison, what=what, backoff=backoff)
    await process_batch(batch[middle:], handle, on_poison=on_poison, what=what, backoff=backoff)


async def _hand_over_poison(
    event: T,
    error: BaseException,
    on_poison: Callable[[T, BaseException], Awaitable[None]],
    *,
    what: str,
    backoff: Backoff,
) -> None:
    """Run `on_poison` (transient failures retried); if it fails permanently too, say so loudly and go on.

    Going on is the lesser harm: the alternative is one event stopping every event behind it, forever.
    """
    try:
        await retry_transient(lambda: on_poison(event, error), what=f"{what} poison handling", backoff=backoff)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.critical("%s: poison handling failed permanently; the event is skipped", what, exc_info=True)


def job_identity(payload: bytes | None) -> tuple[str | None, str | None]:
    """(job id, workspace id) read best-effort from an event that may not decode as its type."""
    if not payload:
        return None, None
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None, None
    if not isinstance(document, dict):
        return None, None
    return _printable(document.get("job_id")), _printable(document.get("workspace_id"))


def _printable(value: object) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= 200 and value.isprintable():
        return value
    return None


def dead_letter(
    *,
    consumer: str,
    topic: str,
    partition: int | None,
    offset: int | None,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]] = (),
    error: BaseException,
) -> EventDeadLettered:
    """The record of a poison event: where it came from, why it was refused, and its original bytes."""
    job_id, workspace_id = job_identity(value)
    kept = (value or b"")[:DEAD_LETTER_VALUE_MAX_BYTES]
    return EventDeadLettered(
        consumer=consumer,
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
        key_b64=base64.b64encode(key).decode() if key is not None else None,
        value_b64=base64.b64encode(kept).decode(),
        value_bytes=len(value or b""),
        value_truncated=len(kept) < len(value or b""),
        headers=[(name, base64.b64encode(data or b"").decode()) for name, data in headers],
        reason=f"{type(error).__name__}: {error}"[:2000],
        job_id=job_id,
        workspace_id=workspace_id,
    )
