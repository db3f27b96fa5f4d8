"""Runs one streamed job: the provider's deltas go out on `jobs.stream` as they arrive, the usage once at the end.

A delta is a piece of text or a piece of a tool call (workers/providers/streams/contract.py); both count as the
first token for `first_token_ms`, and both make the job's answer visible, so either ends the retries.

Retries and fallbacks follow the non-streamed rules (workers/execution.py) only until the first delta is
published. After that the caller has seen text that another attempt would not repeat, so a failure ends the
job: `failed` with the provider's error, nothing charged, its hold released (the policy in README, Streaming).
Deltas are a preview published without waiting for the broker; the answer that is billed and delivered last
travels in the `UsageRecorded`, so a lost delta costs latency, never text.

A job whose guardrails check output (`params.output_checks`) is held back: its deltas are kept here until the
whole answer exists and has passed the checks (workers/output_checks.py), then published at once as checked:
its text and its tool calls (arguments redacted where a rule says so), never the pieces as the provider sent
them. An answer a deny rule matches (in its text or in a tool call) is never
published at all: the job fails `guardrail_blocked`, uncharged, before the caller has seen a byte. The caller's
time to first token is then the whole answer's time; held back, a failed attempt's pieces reach nobody, so the
non-streamed retry rules hold until the end.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from schemas.catalogue import Catalogue
from schemas.chat_options import ToolCallDelta
from schemas.events import ChatJobDispatched, ChatStreamDelta, UsageRecorded
from schemas.topics import Lane
from workers import execution, output_checks
from workers.providers.base import ProviderError
from workers.providers.streams.contract import StreamPiece
from workers.retry import RetryPolicy

if TYPE_CHECKING:
    from workers.early_start import EarlyCall

log = logging.getLogger(__name__)

DeltaPublisher = Callable[[ChatStreamDelta], Awaitable[None]]


class Run:
    """One execution of a job: numbers its deltas and remembers when the first one came (or, `held_back`, keeps
    the current attempt's pieces until `release`)."""

    def __init__(self, job: ChatJobDispatched, publish: DeltaPublisher, *, held_back: bool = False) -> None:
        self.job = job
        self.run_id = uuid.uuid4().hex
        self.seq = 0
        self.first_token_ms: int | None = None
        self.started = time.monotonic()
        self.held_back = held_back
        self._held: list[StreamPiece] = []
        self._publish = publish

    def attempt_started(self) -> None:
        self.started = time.monotonic()
        # Held back, a failed attempt's pieces were never sent: the next attempt starts from nothing.
        self._held.clear()

    async def delta(self, piece: StreamPiece) -> None:
        if self.held_back:
            self._held.append(piece)
            return
        await self._send(piece)

    async def release(self, usage: UsageRecorded) -> None:
        """Publish a held-back answer that passed its checks: the text as checked, then each tool call as checked,
        whole in one piece (the held pieces are the provider's, unchecked: they are dropped)."""
        self._held.clear()
        if usage.answer:
            await self._send(usage.answer)
        calls = usage.choices[0].tool_calls if usage.choices else ()
        for index, call in enumerate(calls):
            name, arguments = call.function.name, call.function.arguments
            await self._send(ToolCallDelta(index=index, id=call.id, name=name, arguments=arguments))

    async def _send(self, piece: StreamPiece) -> None:
        if self.first_token_ms is None:
            self.first_token_ms = round((time.monotonic() - self.started) * 1000)
        event = ChatStreamDelta(
            workspace_id=self.job.workspace_id,
            job_id=self.job.job_id,
            traceparent=self.job.traceparent,
            run_id=self.run_id,
            seq=self.seq,
            text=piece if isinstance(piece, str) else "",
            tool_calls=() if isinstance(piece, str) else (piece,),
            first_token_ms=self.first_token_ms if self.seq == 0 else None,
        )
        self.seq += 1
        await self._publish(event)


async def execute_stream(
    job: ChatJobDispatched,
    catalogue: Catalogue,
    providers: Mapping[str, execution.ProviderSlot],
    policy: RetryPolicy,
    publish: DeltaPublisher,
    clock: execution.Clock = execution._utc_now,
    early: EarlyCall | None = None,
) -> UsageRecorded:
    """`early`: the job's call already started before its dispatch (workers/early_start.py): its first attempt, in
    its run (the deltas it published are this job's first ones)."""
    run = early.run if early is not None else Run(job, publish, held_back=job.params.output_checks is not None)
    last_error: ProviderError | None = None
    attempts = 0
    for position, model_id in enumerate(job.route):
        model = catalogue.get(model_id)
        slot = providers[model.provider]
        assert slot.stream_adapter is not None, f"provider {model.provider} has no streaming adapter"
        # The options (tools, response_format, seed...) go to the provider as they do unstreamed.
        call = execution.provider_call(job, model, slot)
        for attempt in range(1, policy.attempts_max + 1):
            left_s = execution.seconds_left(job, clock())
            if left_s is not None and left_s <= 0:
                return execution.expired(job, attempts)
            attempts += 1
            try:
                if early is not None and position == 0 and attempt == 1:
                    # The early call is this attempt, already under way in this run (its deltas went out).
                    result = await early.result()
                else:
                    run.attempt_started()
                    async with slot.limiter.held(Lane(job.lane)):
                        result = await slot.stream_adapter.stream(execution._within(call, left_s), run.delta)
            except ProviderError as error:
                last_error = error
                log.warning(
                    "stream job %s on %s attempt %d (%d deltas): %s", job.job_id, model_id, attempt, run.seq, error
                )
                # Text already reached the caller: another attempt would not continue it, so the job ends here.
                if run.seq > 0 or not (error.retriable or execution.falls_back(error)):
                    return _failed(job, error, attempts, run)
                if not error.retriable or attempt == policy.attempts_max:
                    break
                if error.retry_after_s is not None and error.retry_after_s > policy.cap_s:
                    break
                await execution._sleep_within(job, policy.delay_s(attempt, error.retry_after_s), clock)
                continue
            usage = execution._completed(job, model.id, model.provider, result, attempts)
            if run.held_back:
                usage = output_checks.apply(usage, job.params.output_checks)
                if usage.outcome == "completed":
                    await run.release(usage)
            return usage.model_copy(update={"first_token_ms": run.first_token_ms})
    assert last_error is not None, "a route has at least one model"
    left_s = execution.seconds_left(job, clock())
    if left_s is not None and left_s <= 0:
        return execution.expired(job, attempts)
    return _failed(job, last_error, attempts, run)


def _failed(job: ChatJobDispatched, error: ProviderError, attempts: int, run: Run) -> UsageRecorded:
    usage = execution._failed(job, error, attempts)
    if run.seq > 0 and usage.error is not None:
        message = f"{usage.error.message} (mid-stream, after {run.seq} deltas; nothing was charged)"
        usage = usage.model_copy(update={"error": usage.error.model_copy(update={"message": message[:1000]})})
    return usage.model_copy(update={"first_token_ms": run.first_token_ms})
