"""The ledger's Faust app class: Faust's aiokafka transport with an idempotent producer and a consumer on the app's
own event loop.

Faust's producer waits for every in-sync replica (``producer_acks`` defaults to -1, ``acks=all``) but enables
idempotence only inside transactions, which the ledger does not use (Faust runs at-least-once here). Without
it a send retried after a lost acknowledgement (a broker killed mid-request, a leader moving) may be written
twice. Consumers would drop the copy by its idempotency key, but the other services' producers never write
one (runtime/kafka.py), and neither should the ledger's.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types.transports import TransportT
from mode import Service

from runtime.kafka import CONSUMER_TIMEOUT_MS


class IdempotentProducer(faust_aiokafka.Producer):
    """Every producer the transport creates has ``acks=all`` and ``enable_idempotence``."""

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class LedgerApp(faust.App):
    """A Faust app whose consumer and producer transports are `IdempotentTransport`."""

    def _new_transport(self) -> TransportT:
        return IdempotentTransport(self.conf.broker_consumer, self)

    def _new_producer_transport(self) -> TransportT:
        return IdempotentTransport(self.conf.broker_producer, self)


class InLoopConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's aiokafka consumer, run on the app's own event loop instead of a thread of its own.

    Faust hands every consumer call (each fetch, each commit) to a dedicated thread and the answer back,
    two cross-thread wake-ups per fetch. On a machine whose idle cores halt, each wake-up costs a few hundred
    microseconds, and a synchronous request crosses two ledger stages (`python -m bench hops`). The ledger's
    work between fetches is short (PostgreSQL calls are awaited, never blocking), so one loop serves both.
    """

    def __init__(self, consumer: Any, **kwargs: Any) -> None:
        super().__init__(consumer, thread_loop=kwargs["loop"], **kwargs)
        self._cast_tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        # ServiceThread.start without the thread: the service body runs as a task of this loop.
        self._thread_started.set()
        self._thread_running = self.parent_loop.create_future()
        self._serving = self.parent_loop.create_task(self._serve())
        try:
            await self._thread_running
        finally:
            self._thread_running = None

    async def call_thread(self, fun: Any, *args: Any, **kwargs: Any) -> Any:
        result = fun(*args, **kwargs)
        return await result if inspect.isawaitable(result) else result

    async def cast_thread(self, fun: Any, *args: Any, **kwargs: Any) -> None:
        # Fire and forget, as the threaded version; the loop keeps only weak references to tasks, so this keeps
        # a strong one until the call ends (else it could be collected mid-call).
        task = self.parent_loop.create_task(self.call_thread(fun, *args, **kwargs))
        self._cast_tasks.add(task)
        task.add_done_callback(self._cast_tasks.discard)

    async def _gather_remaining_tasks(self) -> None:
        # The threaded version cancels every task left on its private loop; this loop is the app's.
        return None

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Faust leaves aiokafka's 200 ms fetch-routine timeout, a safety net that woke the idle ledger five times a
        # second; the consumer reads it when it starts (aiokafka is pinned with Faust, pyproject.toml).
        consumer._consumer_timeout = CONSUMER_TIMEOUT_MS / 1000
        return consumer

    @Service.task
    async def _thread_keepalive(self) -> None:
        # mode wakes a thread's private loop every second so work handed to it is never left unscheduled; this
        # consumer has no loop of its own to keep awake (its calls run on the app's loop), so it does not tick.
        return None


class InLoopConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with `InLoopConsumerThread` in place of its thread."""

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return InLoopConsumerThread(self, loop=self.loop, beacon=self.beacon)


class IdempotentTransport(faust_aiokafka.Transport):
    Producer = IdempotentProducer
    Consumer = InLoopConsumer
