"""Early starts: a job's provider call begun while the ledger is still holding its credit.

Why: a caller's time to first token (and a sync answer's time) is the ledger's admission (a Kafka hop there, a
PostgreSQL transaction, a hop to the worker: 12-15 ms of the c=1 path on a 2-core machine) followed by the
provider's own time. Ingress sends a copy of an interactive job straight to its worker lane
(`ChatJobEarlyStart`, keyed by job id as its dispatch is, so it lands on the same partition ahead of it), and the
worker starts the provider call at once. The admission and the provider's work overlap instead of adding up.

Nothing of an early call reaches a caller before the hold:
- a streamed job's deltas go out on `jobs.stream` as they come (under the run's id and numbering, which the
  dispatch's execution then continues), and ingress holds them back until the ledger's `ChatJobHeld` notice,
  published with the dispatch once the hold committed (ingress/streaming.py); a job whose output is checked
  keeps its deltas here, as always, until the whole answer passed;
- an unstreamed job's answer is kept here until the dispatch claims the call, and only then reported as usage.

A call no dispatch claims (the ledger refused the job: no credit, a limit) is cancelled `claim_wait_s` after it
started and forgotten. Its provider cost is the gateway's, which is why ingress sends early starts only for
workspaces it has just seen well funded and only while it is not busy (ingress/early_start.py). An early start
is never retried, never reported and never billed; lost with its worker (or ignored: stale, a full registry, a
job dispatched already), it costs nothing but the latency it would have saved, since the dispatch then runs the
job as usual.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable, Mapping
from typing import Literal

from pydantic import ValidationError

from schemas.catalogue import Catalogue
from schemas.events import ChatJobDispatched, ChatJobEarlyStart, ChatStreamDelta, decode, utc_now
from schemas.topics import Lane
from workers import execution, streaming
from workers.providers.base import ProviderCall, ProviderResult

log = logging.getLogger(__name__)

# What became of an early start (a metric label): claimed by its dispatch, cancelled unclaimed, or not started.
Outcome = Literal["claimed", "unclaimed", "revoked", "stale", "full", "dispatched", "unreadable", "mismatch"]

# Job ids whose dispatch came recently: an early start that arrives after its dispatch must not run the job again.
DISPATCHED_REMEMBERED = 10_000


class _KeptUntilClaimed:
    """A delta publisher that keeps what it is given until `release`, then hands it on, in order, and everything
    after it straight through."""

    def __init__(self, publish: streaming.DeltaPublisher) -> None:
        self._publish = publish
        self._kept: list[ChatStreamDelta] | None = []

    async def __call__(self, delta: ChatStreamDelta) -> None:
        if self._kept is not None:
            self._kept.append(delta)
        else:
            await self._publish(delta)

    async def release(self) -> None:
        # A delta given while an earlier one is handed on is kept and handed on in turn: the order is the provider's.
        while self._kept:
            await self._publish(self._kept.pop(0))
        self._kept = None


class EarlyCall:
    """One early provider call; a streamed one publishes through its own run, which the dispatch then continues.

    `before_hold`: the run's deltas go out at once (ingress holds them until the ledger's held notice); else they
    are kept here until the dispatch claims the call."""

    def __init__(
        self, job: ChatJobDispatched, publish: streaming.DeltaPublisher, partition: Hashable, *, before_hold: bool
    ) -> None:
        self.job = job
        # Where its early start was read: its dispatch comes on the same partition, to whoever owns it then.
        self.partition = partition
        self.started = time.monotonic()
        self._kept = None if before_hold else _KeptUntilClaimed(publish)
        self.run = streaming.Run(job, self._kept or publish, held_back=job.params.output_checks is not None)
        self.task: asyncio.Task[ProviderResult] | None = None

    async def result(self) -> ProviderResult:
        """The call's result, once its kept deltas went out; a provider failure is raised, as the call raised it."""
        assert self.task is not None
        if self._kept is not None:
            await self._kept.release()
        return await self.task


class EarlyStarts:
    """The early calls of one interactive lane of a model pool, by job id."""

    def __init__(
        self,
        catalogue: Catalogue,
        providers: Mapping[str, execution.ProviderSlot],
        publish: streaming.DeltaPublisher,
        *,
        calls_max: int,
        claim_wait_s: float,
        fresh_s: float,
        deltas_before_hold: bool = True,
        counted: Callable[[Outcome], None] | None = None,
    ) -> None:
        self._catalogue = catalogue
        self._providers = providers
        self._publish = publish
        self._calls_max = calls_max
        self._claim_wait_s = claim_wait_s
        self._fresh_s = fresh_s
        self._deltas_before_hold = deltas_before_hold
        self._counted = counted or (lambda _outcome: None)
        self._calls: dict[str, EarlyCall] = {}
        self._expiries: dict[str, asyncio.TimerHandle] = {}
        self._dispatched: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._calls)

    def offer(self, payload: bytes, timestamp_ms: int, partition: Hashable = None) -> None:
        """Start the call an early-start record asks for, unless it is stale, its job was dispatched already, it
        does not read, or the registry is full. Never raises: an early start is only ever a head start."""
        if time.time() - timestamp_ms / 1000 > self._fresh_s:
            # Replayed after a restart, or stuck in a backlog: its dispatch is as near, or already run.
            self._counted("stale")
            return
        try:
            job = _dispatch_of(decode(ChatJobEarlyStart, payload))
            model = self._catalogue.get(job.route[0])
            slot = self._providers[model.provider]
        except (ValueError, KeyError, IndexError) as error:
            log.warning("an early start did not read and was ignored: %s", _reason(error))
            self._counted("unreadable")
            return
        if job.job_id in self._dispatched or job.job_id in self._calls:
            self._counted("dispatched")
            return
        if len(self._calls) >= self._calls_max:
            self._counted("full")
            return
        left_s = execution.seconds_left(job, utc_now())
        if left_s is not None and left_s <= 0:
            self._counted("stale")
            return
        early = EarlyCall(job, self._publish, partition, before_hold=self._deltas_before_hold)
        call = execution._within(execution.provider_call(job, model, slot), left_s)
        early.task = asyncio.create_task(_run(early, slot, call))
        early.task.add_done_callback(_retrieved)
        self._calls[job.job_id] = early
        self._expiries[job.job_id] = asyncio.get_running_loop().call_later(self._claim_wait_s, self._expire, job.job_id)

    def claim(self, job: ChatJobDispatched) -> EarlyCall | None:
        """The early call of a dispatched job, if one was started and asks the provider what the dispatch does."""
        self._dispatched[job.job_id] = None
        if len(self._dispatched) > DISPATCHED_REMEMBERED:
            self._dispatched.popitem(last=False)
        early = self._calls.pop(job.job_id, None)
        if early is None:
            return None
        self._expiries.pop(job.job_id).cancel()
        assert early.task is not None
        if early.job.route[0] != job.route[0] or early.job.params != job.params or early.task.cancelled():
            early.task.cancel()
            self._counted("mismatch")
            return None
        self._counted("claimed")
        return early

    def _expire(self, job_id: str) -> None:
        """No dispatch came in time: the ledger refused the job (or is far behind). The call is dropped."""
        self._expiries.pop(job_id, None)
        early = self._calls.pop(job_id, None)
        if early is not None and early.task is not None:
            early.task.cancel()
            self._counted("unclaimed")

    def revoke(self, partitions: Collection[Hashable]) -> None:
        """Partitions taken away: their jobs' dispatches go to another worker, which runs them afresh, so the early
        calls read from them are cancelled now rather than at their claim wait."""
        for job_id, early in list(self._calls.items()):
            if early.partition in partitions:
                self._expiries.pop(job_id).cancel()
                del self._calls[job_id]
                if early.task is not None:
                    early.task.cancel()
                self._counted("revoked")

    def close(self) -> None:
        for job_id in list(self._calls):
            self._expiries.pop(job_id).cancel()
            task = self._calls.pop(job_id).task
            if task is not None:
                task.cancel()


async def _run(early: EarlyCall, slot: execution.ProviderSlot, call: ProviderCall) -> ProviderResult:
    async with slot.limiter.held(Lane.INTERACTIVE):
        if early.job.params.stream:
            assert slot.stream_adapter is not None
            return await slot.stream_adapter.stream(call, early.run.delta)
        return await slot.adapter.complete(call)


def _reason(error: Exception) -> str:
    """Why an early start did not read, without its content: a record's bytes may hold a caller's prompt, and logs
    never do (README, Logs)."""
    if isinstance(error, ValidationError):
        problems = error.errors(include_input=False, include_url=False)[:3]
        return "; ".join(f"{'.'.join(map(str, problem['loc'])) or 'record'}: {problem['type']}" for problem in problems)
    return f"{type(error).__name__}: {str(error)[:200]!r}"


def _retrieved(task: asyncio.Task[ProviderResult]) -> None:
    """A failed call nobody claimed must not log "exception was never retrieved": its failure is the claimer's."""
    if not task.cancelled():
        task.exception()


def _dispatch_of(early: ChatJobEarlyStart) -> ChatJobDispatched:
    """The dispatch the ledger will send for this job, as far as the provider call is concerned (no hold yet)."""
    job = early.job
    if job.lane != Lane.INTERACTIVE.value or not job.route:
        raise ValueError("an early start is for an interactive job with a route")
    return ChatJobDispatched(
        workspace_id=job.workspace_id,
        job_id=job.job_id,
        traceparent=job.traceparent,
        model_id=job.model_id,
        route=job.route,
        hold_tokens=0,
        params=job.params,
        lane=job.lane,
        deadline_at=job.deadline_at,
    )
