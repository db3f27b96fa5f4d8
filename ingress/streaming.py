"""Runs one streamed completion (`stream: true`) on either surface: publish, relay deltas, end with the bill.

The job is admitted like any other (the ledger holds its credit before dispatch, so before the first byte).
The answer's status line waits for the job's hold: the ledger's held notice (`ChatJobHeld`, published with the
dispatch of every streamed job), its first delta, or its result. A refusal before the hold (credit, limits,
guardrails, an unknown model) is an ordinary error response in the surface's error shape; once the credit is held
the stream starts at once (200, `text/event-stream`), with SSE comments (`: keep-alive`) until the first delta, so a
slow first token never looks like a dead connection to the caller (whose read timeout would otherwise make it
retry, each retry a new job billed in full). The keep-alives come at least a second inside the read timeout the
official SDKs announce (`X-Stainless-Read-Timeout`). When even the hold does not come within the surface's wait,
the OpenAI surface answers `408 wait_limit_reached` with `x-should-retry: false` (ingress/openai_wait.py), the
native one starts the stream anyway. Deltas (text, or pieces of tool calls) arrive on `jobs.stream`
(ingress/stream_deltas.py); the stream ends with the job's billed result from `jobs.results`, so usage, cost and
balance are sent only after the debit committed. The billed answer is the truth: text and tool call arguments
the deltas missed (a lost or late delta) are sent before the end (ingress/stream_tool_calls.py), and a job whose
deltas came from another run than its result (a worker crashed and the job ran again) ends with an error event
pointing at `GET /api/v1/jobs/{id}`. `n` above 1 and `logprobs` are not streamed: such a request is a 400.

Disconnect policy: a caller that goes away does not cancel the provider call. The job runs to its end and
is billed in full exactly once (or fails with nothing charged); its result stays at `GET /api/v1/jobs/{id}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ingress import acceptance, flow, rendering, submission
from ingress.errors import request_id_of
from ingress.keys import Principal
from ingress.publisher import PublishAmbiguous
from ingress.replies import ResultUnreadable
from ingress.services import Services
from ingress.stream_inbox import StreamEvent
from ingress.stream_shapes import KEEPALIVE, StreamShape
from ingress.stream_tool_calls import SentToolCalls
from ledger import queries
from schemas.api import ChatCompletionRequest
from schemas.errors import ErrorCode, InvalidRequest, ServiceUnavailable
from schemas.events import ChatJobHeld, ChatJobSubmitted, ChatStreamDelta, encode, utc_now
from schemas.results import JobResult

log = logging.getLogger(__name__)


class _Session:
    """One stream's job, its delta inbox and its result, and what has been sent so far."""

    def __init__(self, services: Services, job: ChatJobSubmitted, request_id: str) -> None:
        self.services = services
        self.job = job
        self.request_id = request_id
        self.deltas = services.streams.open(job.job_id)
        try:
            self.reply = services.replies.expect(job.job_id)
        except ServiceUnavailable:
            services.streams.close(job.job_id)
            raise
        # The inbox's one wait also ends when the result is in.
        self.reply.add_done_callback(lambda _: self.deltas.wake())
        self.heard = False  # anything came back: the ledger has the job in its book
        self.sent: list[str] = []
        self.sent_calls = SentToolCalls()
        self.run_id: str | None = None
        self.gapped = False
        self.first_token_ms: int | None = None
        # With an early start, deltas wait for the hold (`next`); without one, none can come before it.
        self.held = True
        self.early_deltas: deque[ChatStreamDelta] = deque()

    async def publish(self) -> None:
        settings = self.services.settings
        # A head start for the worker (ingress/early_start.py): its first text still waits for the hold. Decided
        # before the job is encoded: the submission says whether it got one. This caller's reply is already
        # expected, so it counts among those waiting.
        self.job = flow.with_early_start(self.services, self.job, in_flight=self.services.replies.waiting)
        event = encode(self.job)
        self.held = not await flow.send_early_start(self.services, self.job, event)
        try:
            await self.services.publisher.submit(self.job.workspace_id, event, timeout_s=settings.publish_timeout_s)
        except PublishAmbiguous:
            # It may be queued: record it so the relay publishes it if it is not, then wait for it as usual.
            if not await self.record(acknowledged=False):
                raise ServiceUnavailable(
                    f"the job queue did not answer and the database is unreachable: job {self.job.job_id} may "
                    "still run and be billed",
                    retry_after_s=1,
                ) from None

    async def next(self, timeout_s: float) -> ChatStreamDelta | JobResult | None:
        """The next delta the caller may have, else the result, else None after `timeout_s`.

        An early-started job's deltas can come before its hold (workers/early_start.py): they wait here, unsent,
        until the ledger's held notice (or the job's result) says the credit is held."""
        event = await self._take(timeout_s, until_held=False)
        return None if isinstance(event, ChatJobHeld) else event  # (never: the notice only ends `opening`)

    async def opening(self, timeout_s: float) -> ChatStreamDelta | JobResult | ChatJobHeld | None:
        """As `next`, but the ledger's held notice ends the wait too (unless a delta is already there to send):
        the stream may start once the credit is held."""
        return await self._take(timeout_s, until_held=True)

    async def _take(self, timeout_s: float, *, until_held: bool) -> ChatStreamDelta | JobResult | ChatJobHeld | None:
        ends_at = time.monotonic() + timeout_s
        while True:
            if self.held and self.early_deltas:
                return self.early_deltas.popleft()
            event = await self._next_event(max(0.0, ends_at - time.monotonic()))
            if isinstance(event, ChatJobHeld):
                self.held = self.heard = True
                if until_held and not self.early_deltas:
                    return event
                continue
            if isinstance(event, ChatStreamDelta):
                if not self.held:
                    # Bounded as the inbox is: past it, the billed answer at the end carries the text.
                    if len(self.early_deltas) < self.services.settings.stream_deltas_buffered_max:
                        self.early_deltas.append(event)
                    continue
                self.heard = True
            return event

    async def _next_event(self, timeout_s: float) -> StreamEvent | JobResult | None:
        event = self.deltas.take()
        if event is None and not self.reply.done():
            await self.deltas.wait(timeout_s)
            event = self.deltas.take()
            if event is None and not self.reply.done():
                return None
        if event is not None:
            return event
        self.heard = True
        try:
            result = self.reply.result().result()
        except ResultUnreadable:
            return await self._from_book()
        self.services.early_starts.observe(self.job.workspace_id, result)
        return result

    def accept(self, delta: ChatStreamDelta) -> bool:
        """Whether the delta continues what was sent (same run, next number), and so is to be sent; kept if so."""
        if self.run_id is None:
            self.run_id = delta.run_id
            self.first_token_ms = delta.first_token_ms
        if delta.run_id != self.run_id or self.gapped or delta.seq != len(self.sent):
            self.gapped = self.gapped or (delta.run_id == self.run_id and delta.seq > len(self.sent))
            return False
        if not self.sent_calls.record(delta.tool_calls):
            # Not the numbering the worker keeps: send nothing more of the preview; the billed answer decides.
            self.gapped = True
            return False
        self.sent.append(delta.text)
        return True

    async def _from_book(self) -> JobResult | None:
        try:
            async with self.services.engine.connect() as conn:
                view = await queries.job(conn, self.job.workspace_id, self.job.job_id)
        except SQLAlchemyError:
            return None
        return view.result if view is not None else None

    async def record(self, *, acknowledged: bool) -> bool:
        """The job in the outbox, so a poll finds it before the ledger has it; False if the database failed."""
        job = self.job
        try:
            async with self.services.engine.begin() as conn:
                await acceptance.record(
                    conn,
                    job_id=job.job_id,
                    workspace_id=job.workspace_id,
                    model_id=job.model_id,
                    event=encode(job),
                    deadline_at=job.deadline_at,
                    acknowledged=acknowledged,
                )
        except SQLAlchemyError:
            log.warning("stream job %s could not be recorded in the outbox", job.job_id)
            return False
        return True

    async def close(self) -> None:
        self.services.streams.close(self.job.job_id)
        self.services.replies.forget(self.job.job_id, self.reply)
        if not self.heard and not await self.record(acknowledged=True):
            self.services.relay.unrecorded(self.job, encode(self.job))


@dataclass(frozen=True, slots=True)
class Waits:
    """How one stream waits before and after its first byte.

    `hold_s`: the longest wait for the job's hold before the answer's status line; `keepalive_s`: the longest
    silence once the stream started; `on_wait_limit`: the answer when the hold did not come within `hold_s` (the
    job's id and the wait), or None to start the stream anyway."""

    hold_s: float
    keepalive_s: float
    on_wait_limit: Callable[[str, float], Response] | None = None


async def respond(
    request: Request, principal: Principal, chat: ChatCompletionRequest, shape: StreamShape, waits: Waits
) -> Response:
    """The stream's response, once the job's credit is held; a refusal before that is raised as an error."""
    services: Services = request.app.state.services
    settings = services.settings
    if request.headers.get("idempotency-key") is not None:
        raise InvalidRequest("Idempotency-Key is not supported with stream: true; poll GET /api/v1/jobs/{id} instead")
    options = chat.chat_options()
    if options is not None and options.n > 1:
        raise InvalidRequest("'n' above 1 is not supported with stream: true; stream one choice per request")
    if options is not None and options.logprobs:
        raise InvalidRequest("'logprobs' is not supported with stream: true; send stream: false to get them")
    job = submission.build_job(
        chat,
        principal,
        services.catalogue,
        job_id=submission.new_job_id(),
        deadline_at=utc_now() + timedelta(seconds=settings.job_deadline_s),
    )
    if submission.may_exceed(len(await request.body()), settings.kafka_message_max_bytes):
        submission.check_event_size(job, settings.kafka_message_max_bytes)
    session = _Session(services, job, request_id_of(request))
    try:
        await session.publish()
        first = await session.opening(waits.hold_s)
        if isinstance(first, JobResult) and first.status != "completed":
            rendering.completion(first)  # raises the job's error: an ordinary error response
        if first is None and waits.on_wait_limit is not None:
            # Not even held yet: the job runs on and is billed once; the answer names it (and the session's
            # close records it in the outbox, so a poll finds it before the ledger has it).
            answer = waits.on_wait_limit(job.job_id, waits.hold_s)
            await session.close()
            return answer
    except BaseException:
        await session.close()
        raise
    headers = {"x-request-id": session.request_id, "x-luntrex-job-id": job.job_id, "cache-control": "no-cache"}
    opened = None if isinstance(first, ChatJobHeld) else first
    return SseResponse(_events(session, shape, opened, waits.keepalive_s), headers)


async def _events(
    session: _Session, shape: StreamShape, first: ChatStreamDelta | JobResult | None, keepalive_s: float
) -> AsyncIterator[bytes]:
    try:
        async for chunk in _relay(session, shape, first, keepalive_s):
            yield chunk
    finally:
        await session.close()


async def _relay(
    session: _Session, shape: StreamShape, first: ChatStreamDelta | JobResult | None, keepalive_s: float
) -> AsyncIterator[bytes]:
    """The stream's events: `first` is its first delta or result, or None when it starts before either (the
    credit is held, the first token has not come): keep-alives until it does. The opening event (OpenAI's role
    chunk) waits for the first delta or result, since it says whether the answer opens with text or a tool call."""
    settings = session.services.settings
    job = session.job
    ends_at = time.monotonic() + settings.stream_wait_max_s
    event = first
    started = False
    while True:
        if not started and event is not None:
            yield shape.start(job.job_id, job.model_id, text_first=_text_first(event))
            started = True
        if isinstance(event, ChatStreamDelta):
            if session.accept(event):
                if event.text:
                    yield shape.delta(event.text)
                for piece in event.tool_calls:
                    yield shape.tool_call(piece)
        elif isinstance(event, JobResult):
            yield _ending(session, shape, event)
            return
        left_s = ends_at - time.monotonic()
        if left_s <= 0:
            message = (
                f"the answer did not finish within {settings.stream_wait_max_s:g} s; job {job.job_id} goes on and "
                "is billed once; fetch it at GET /api/v1/jobs/{id}"
            )
            if not started:
                yield shape.start(job.job_id, job.model_id)
            yield shape.error(ErrorCode.UPSTREAM_TIMEOUT, message, session.request_id)
            return
        event = await session.next(min(left_s, keepalive_s))
        if event is None and time.monotonic() < ends_at:
            yield KEEPALIVE


def _text_first(first: ChatStreamDelta | JobResult) -> bool:
    """False when the answer opens with a tool call (OpenAI's first chunk then says `content: null`)."""
    if isinstance(first, ChatStreamDelta):
        return bool(first.text) or not first.tool_calls
    if first.choices:
        return bool(first.answer) or not first.choices[0].tool_calls
    return True


def _ending(session: _Session, shape: StreamShape, result: JobResult) -> bytes:
    if result.status != "completed":
        error = result.error
        code = error.code if error is not None else ErrorCode.UPSTREAM_ERROR
        return shape.error(code, error.message if error else "the job failed", session.request_id)
    answer, sent = result.answer or "", "".join(session.sent)
    calls_rest = session.sent_calls.rest(result.choices[0].tool_calls if result.choices else ())
    if not answer.startswith(sent) or calls_rest is None:
        message = (
            f"the job ran again after part of its answer was streamed; the billed answer of {result.job_id} is at "
            "GET /api/v1/jobs/{id}"
        )
        return shape.error(ErrorCode.UPSTREAM_ERROR, message, session.request_id)
    rest = answer[len(sent) :]
    first_token_ms = result.first_token_ms if result.first_token_ms is not None else session.first_token_ms
    ending = [shape.delta(rest)] if rest else []
    ending += [shape.tool_call(piece) for piece in calls_rest]
    return b"".join(ending) + shape.finish(result, first_token_ms)


class SseResponse(Response):
    """An ASGI response that sends events as they come and stops (closing the session) when the client goes.

    Starlette's StreamingResponse notices a departed client only at its next write; this one listens for the
    disconnect, so the session is closed (its waiters forgotten) at once.
    """

    def __init__(self, events: AsyncIterator[bytes], headers: dict[str, str]) -> None:
        # Response.__init__ is not called: it would render an empty body with a content-length of 0.
        self.events = events
        self.status_code = 200
        self.background = None
        self.raw_headers = [(b"content-type", b"text/event-stream; charset=utf-8")] + [
            (name.encode(), value.encode()) for name, value in headers.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ARG002 - ASGI's signature
        async def client_gone() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        watcher = asyncio.ensure_future(client_gone())
        sender = asyncio.ensure_future(self._send(send))
        try:
            await asyncio.wait({watcher, sender}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (watcher, sender):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await sender
            aclose = getattr(self.events, "aclose", None)
            if aclose is not None:
                await aclose()
        if sender.done() and not sender.cancelled() and sender.exception() is not None:
            raise sender.exception()  # type: ignore[misc]

    async def _send(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async for chunk in self.events:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
