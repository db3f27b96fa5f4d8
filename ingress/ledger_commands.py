"""Sends operators' workspace commands to the ledger and waits for its answers.

Workspaces, their accounts and the journal have one writer, the ledger; the admin API therefore never writes
them itself. It publishes a `WorkspaceCommandIssued` on `ledger.commands` and waits for the answer the ledger
publishes on `ledger.replies`, keyed by the command id. The subscription starts at the end of the topic and
resolves its position before the first command is sent, so no answer can slip past it.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from runtime.kafka import new_producer, start_reader, stop_consumer
from runtime.settings import ServiceSettings
from schemas import topics
from schemas.errors import ServiceUnavailable
from schemas.events import WorkspaceCommandAnswered, WorkspaceCommandIssued, decode, encode

log = logging.getLogger(__name__)


class LedgerCommands:
    def __init__(self, settings: ServiceSettings, *, pending_max: int) -> None:
        self._settings = settings
        self._pending_max = pending_max
        self._pending: dict[bytes, asyncio.Future[WorkspaceCommandAnswered]] = {}
        self._commands_topic = topics.prefixed(settings.topic_prefix, topics.LEDGER_COMMANDS)
        self._replies_topic = topics.prefixed(settings.topic_prefix, topics.LEDGER_REPLIES)
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._producer = new_producer(self._settings)
        await self._producer.start()
        consumer, _ = await start_reader(self._settings, [self._replies_topic], from_beginning=False)
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(), name="ledger-command-replies")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._consumer is not None:
            await stop_consumer(self._consumer)
        if self._producer is not None:
            await self._producer.stop()

    async def issue(self, command: WorkspaceCommandIssued, *, timeout_s: float) -> WorkspaceCommandAnswered:
        """Publish a command and wait for the ledger's answer; 503 if the ledger does not answer in time."""
        assert self._producer is not None, "ledger commands not started"
        if len(self._pending) >= self._pending_max:
            raise ServiceUnavailable("too many operator commands are waiting; retry shortly", retry_after_s=1)
        key = topics.job_key(command.job_id)
        answer: asyncio.Future[WorkspaceCommandAnswered] = asyncio.get_running_loop().create_future()
        self._pending[key] = answer
        try:
            await self._producer.send_and_wait(
                self._commands_topic, encode(command), key=topics.ledger_key(command.workspace_id)
            )
            return await asyncio.wait_for(answer, timeout=timeout_s)
        except TimeoutError as exc:
            raise ServiceUnavailable(
                f"the ledger did not answer command {command.job_id} within {timeout_s:g}s; it may still apply it",
                retry_after_s=1,
            ) from exc
        except ServiceUnavailable:
            raise
        except Exception as exc:
            raise ServiceUnavailable("the ledger's command queue is unavailable", retry_after_s=1) from exc
        finally:
            self._pending.pop(key, None)

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=1000)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading ledger command answers failed; retrying")
                await asyncio.sleep(0.5)
                continue
            for records in batches.values():
                for record in records:
                    waiter = self._pending.get(record.key) if record.key is not None else None
                    if waiter is None or waiter.done():
                        continue
                    try:
                        waiter.set_result(decode(WorkspaceCommandAnswered, record.value))
                    except ValueError as exc:
                        waiter.set_exception(exc)
