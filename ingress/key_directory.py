"""Every ingress replica's view of keys and workspaces, kept current from two compacted topics.

At start-up a replica reads `keys.changes` and `workspaces.changes` from the beginning, then follows them, so
a revocation, rotation or suspension made on any replica reaches every other one within one fetch
(milliseconds), with no database round trip per request. A key or workspace the topics never mentioned (the
seed, keys minted straight into the table) is read from PostgreSQL once and cached; every entry is also
re-read after `key_cache_ttl_s`, a safety net should a change ever fail to be published.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy.ext.asyncio import AsyncEngine

from ingress import keys
from ingress.guardrail_check import KEY, WORKSPACE, CompiledGuardrails
from ingress.key_policy import Principal, key_id_of
from ingress.settings import IngressSettings
from ledger import queries
from runtime.kafka import new_producer, start_reader, stop_consumer
from schemas import topics
from schemas.errors import ErrorCode, Forbidden, ServiceUnavailable
from schemas.events import KeyChanged, WorkspaceChanged, decode, encode

log = logging.getLogger(__name__)

# A key change waits at most this long for this replica to read it back from `keys.changes`.
READ_BACK_MAX_S = 1.0


class KeyDirectory:
    def __init__(self, settings: IngressSettings, engine: AsyncEngine) -> None:
        self._settings = settings
        self._engine = engine
        self._ttl_s = settings.key_cache_ttl_s
        self._entries_max = settings.key_cache_entries_max
        self._keys: dict[str, tuple[KeyChanged | None, float]] = {}
        self._unknown: dict[str, float] = {}
        self._workspaces: dict[str, tuple[WorkspaceChanged | None, float]] = {}
        # Compiled guardrails by workspace and by key, with the revision they were compiled from.
        self._guardrails: dict[str, tuple[int, CompiledGuardrails | None]] = {}
        self._key_guardrails: dict[str, tuple[int, CompiledGuardrails | None]] = {}
        self._keys_topic = topics.prefixed(settings.topic_prefix, topics.KEYS_CHANGES)
        self._workspaces_topic = topics.prefixed(settings.topic_prefix, topics.WORKSPACES_CHANGES)
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None
        # How far this replica has read `keys.changes`, per partition (the next offset to read).
        self._keys_read_to: dict[int, int] = {}
        self._read_progress = asyncio.Event()

    async def start(self) -> None:
        self._producer = new_producer(self._settings)
        await self._producer.start()
        consumer, assigned = await start_reader(
            self._settings, [self._keys_topic, self._workspaces_topic], from_beginning=True
        )
        self._consumer = consumer
        await self._catch_up(assigned)
        self._task = asyncio.create_task(self._follow(), name="key-directory")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._consumer is not None:
            await stop_consumer(self._consumer)
        if self._producer is not None:
            await self._producer.stop()

    async def _catch_up(self, assigned: list[TopicPartition]) -> None:
        """Apply every state already on the topics before serving, so no revoked key is ever accepted."""
        assert self._consumer is not None
        ends = await self._consumer.end_offsets(assigned)
        while True:
            behind = [tp for tp, end in ends.items() if await self._consumer.position(tp) < end]
            if not behind:
                return
            self._apply_batches(await self._consumer.getmany(*behind, timeout_ms=1000))

    async def _follow(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=1000)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading key and workspace changes failed; retrying")
                await asyncio.sleep(0.5)
                continue
            self._apply_batches(batches)

    def _apply_batches(self, batches: dict[TopicPartition, list[object]]) -> None:
        for tp, records in batches.items():
            if records and tp.topic == self._keys_topic:
                self._keys_read_to[tp.partition] = int(getattr(records[-1], "offset", -1)) + 1
                self._read_progress.set()
            for record in records:
                value = getattr(record, "value", None)
                if value is None:
                    continue
                try:
                    if tp.topic == self._keys_topic:
                        self.apply_key(decode(KeyChanged, value))
                    else:
                        self.apply_workspace(decode(WorkspaceChanged, value))
                except ValueError:
                    log.warning(
                        "skipping an unreadable record on %s at offset %s", tp.topic, getattr(record, "offset", "?")
                    )

    def apply_key(self, state: KeyChanged) -> None:
        current = self._keys.get(state.key_id)
        if current is not None and current[0] is not None and current[0].revision > state.revision:
            return
        self._bound(self._keys)
        self._keys[state.key_id] = (state, time.monotonic() + self._ttl_s)
        self._unknown.pop(state.key_id, None)

    def apply_workspace(self, state: WorkspaceChanged) -> None:
        current = self._workspaces.get(state.workspace_id)
        if current is not None and current[0] is not None and current[0].revision > state.revision:
            return
        self._bound(self._workspaces)
        self._workspaces[state.workspace_id] = (state, time.monotonic() + self._ttl_s)

    def _bound(self, cache: dict[str, Any]) -> None:
        # Dropping entries only costs database reads: anything dropped is read back on its next use.
        if len(cache) >= self._entries_max:
            cache.clear()

    async def publish(self, state: KeyChanged) -> None:
        """Tell every replica (this one at once) the key's new state; returns once the broker has it."""
        assert self._producer is not None, "key directory not started"
        self.apply_key(state)
        try:
            sent = await self._producer.send_and_wait(self._keys_topic, encode(state), key=state.key_id.encode())
        except Exception as exc:
            raise ServiceUnavailable(
                "the key change is saved, but could not be announced to every replica; repeat the request",
                retry_after_s=1,
            ) from exc
        await self._read_back(sent.partition, sent.offset)

    async def _read_back(self, partition: int, offset: int) -> None:
        """Wait (bounded) until this replica's own subscription has read the change back from the topic.

        Every replica follows the topic through the same broker, so once this one has read it the others have
        too, give or take scheduling: the caller's next request, wherever it lands, sees the change.
        """
        deadline = time.monotonic() + READ_BACK_MAX_S
        while True:
            # Cleared before the check, so progress made between the check and the wait is not missed.
            self._read_progress.clear()
            if self._keys_read_to.get(partition, 0) > offset:
                return
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                log.warning("key change at offset %d not read back within %.1fs", offset, READ_BACK_MAX_S)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._read_progress.wait(), timeout=remaining_s)

    def workspace_revision(self, workspace_id: str) -> int:
        cached = self._workspaces.get(workspace_id)
        return cached[0].revision if cached is not None and cached[0] is not None else 0

    async def authenticate(self, secret: str) -> Principal | None:
        """The principal of a presented key; None for malformed, unknown, wrong, revoked or expired keys."""
        key_id = key_id_of(secret)
        if key_id is None:
            return None
        state = await self._key(key_id)
        if state is None or not hmac.compare_digest(keys.fingerprint(secret), state.secret_sha256):
            return None
        now = datetime.now(UTC)
        if state.revoked_at is not None or (state.expires_at is not None and state.expires_at <= now):
            return None
        workspace = await self._workspace(state.workspace_id)
        if workspace is not None and workspace.suspended:
            raise Forbidden(
                f"workspace '{state.workspace_id}' is suspended; contact your administrator",
                code=ErrorCode.WORKSPACE_SUSPENDED,
            )
        return Principal(
            key_id=state.key_id,
            workspace_id=state.workspace_id,
            default_model=workspace.default_model if workspace is not None else None,
            power=keys.power_of(state),
            rotated=state.rotated_at is not None,
            guardrails=self._workspace_guardrails(workspace) if workspace is not None else None,
            # A key without guardrails of its own (most keys) costs nothing here.
            key_guardrails=self._compiled(self._key_guardrails, state.key_id, state.revision, state.guardrails, KEY)
            if state.guardrails
            else None,
        )

    def _workspace_guardrails(self, workspace: WorkspaceChanged) -> CompiledGuardrails | None:
        if not workspace.guardrails:
            return None
        return self._compiled(self._guardrails, workspace.workspace_id, workspace.revision, workspace.guardrails)

    def _compiled(
        self,
        cache: dict[str, tuple[int, CompiledGuardrails | None]],
        owner_id: str,
        revision: int,
        value: dict[str, Any] | None,
        whose: str = WORKSPACE,
    ) -> CompiledGuardrails | None:
        """Compile a workspace's or a key's guardrails once per revision of its owner; a stored value that no
        longer validates (it was checked when set) is logged and ignored rather than locking the owner out."""
        cached = cache.get(owner_id)
        if cached is not None and cached[0] == revision:
            return cached[1]
        try:
            compiled = CompiledGuardrails.from_json(value, whose=whose)
        except ValueError:
            log.exception("%s: its stored guardrails do not validate; ignored", owner_id)
            compiled = None
        self._bound(cache)
        cache[owner_id] = (revision, compiled)
        return compiled

    async def _key(self, key_id: str) -> KeyChanged | None:
        now = time.monotonic()
        cached = self._keys.get(key_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        if self._unknown.get(key_id, 0.0) > now:
            return None
        async with self._engine.connect() as conn:
            state = await keys.key_state(conn, key_id)
        if state is None:
            # Unknown ids are remembered apart, so a flood of invented keys can never evict real ones.
            self._bound(self._unknown)
            self._unknown[key_id] = now + self._ttl_s
            return None
        self.apply_key(state)
        return self._keys[key_id][0]

    async def _workspace(self, workspace_id: str) -> WorkspaceChanged | None:
        cached = self._workspaces.get(workspace_id)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        async with self._engine.connect() as conn:
            view = await queries.workspace(conn, workspace_id)
        if view is None:
            return None
        self.apply_workspace(
            WorkspaceChanged(
                workspace_id=view.id,
                revision=view.revision,
                name=view.name,
                default_model=view.default_model,
                credit_line_tokens=view.credit_line_tokens,
                tokens_per_bdt=view.tokens_per_bdt,
                rpm_max=view.rpm_max,
                tpm_max=view.tpm_max,
                suspended=view.suspended,
                guardrails=view.guardrails,
            )
        )
        return self._workspaces[workspace_id][0]
