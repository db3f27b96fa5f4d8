"""Runs one completion request: record and publish the job, wait for the billed result, within the caller's wait.

Both HTTP surfaces (the native API and the OpenAI-compatible one) call `complete` and only differ in how
they parse the request and render the `Outcome`.

What a caller is told is always true about money:
- a 503 means nothing was accepted: no job exists, none will run, the `Idempotency-Key` (if any) is free;
- a 202 (with the job's id) means the job exists or may yet run: it reaches a terminal state and is billed
  at most once, and polling it never answers 404;
- a job the caller waited for is answered with its own result.
An `Idempotency-Key` claim is written in one transaction with the job's outbox row (encoded event
included) before the job is published, so a key never names a job that cannot be published: if this
process dies before or during publication, the relay publishes the job from the outbox. Requests with
neither a key nor `respond-async` write nothing before publishing; they write their outbox row only when
their answer becomes a 202 (the wait ended, or the broker's answer is ambiguous).

Disconnect policy: a job, once accepted, is never cancelled by the caller going away. It completes and is
billed exactly once (or fails and releases its hold); the result stays available at `GET /api/v1/jobs/{id}`
and through an idempotent retry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from ingress import acceptance, idempotency, submission
from ingress.keys import Principal
from ingress.prefer import Preferences
from ingress.publisher import PublishAmbiguous
from ingress.replies import ResultUnreadable
from ingress.services import Services
from ledger import queries
from runtime import logs
from schemas.api import ChatCompletionRequest
from schemas.errors import ServiceUnavailable, spec_of
from schemas.events import ChatJobSubmitted, JobFinished, encode, utc_now
from schemas.results import JobResult

log = logging.getLogger(__name__)

T = TypeVar("T")

# New attempts one request may start under a key whose job keeps turning out failed (concurrent retries).
ATTEMPTS_MAX = 3


@dataclass(frozen=True, slots=True)
class Outcome:
    """Either the finished job, or the id of a job still running when the wait ended."""

    job_id: str
    model_id: str
    finished: JobResult | None
    replayed: bool
    wait_applied_s: float | None


@dataclass(frozen=True, slots=True)
class _Request:
    """One request's job and the bounds it runs within."""

    services: Services
    job: ChatJobSubmitted
    event: bytes
    deadline: float  # monotonic: when the caller's wait ends
    key: str | None
    fingerprint: str

    def wait_left_s(self) -> float:
        return max(0.0, self.deadline - time.monotonic())


async def complete(
    services: Services,
    principal: Principal,
    chat: ChatCompletionRequest,
    preferences: Preferences,
    *,
    idempotency_key: str | None,
    fingerprint: str,
    traceparent: str | None,
    webhook_endpoint_id: str | None = None,
    wait_max_s: float | None = None,
) -> Outcome:
    """`wait_max_s` replaces the default wait (the OpenAI surface's own limit); `Prefer: wait` still shortens it."""
    settings = services.settings
    job = submission.build_job(
        chat,
        principal,
        services.catalogue,
        job_id=submission.new_job_id(),
        traceparent=traceparent,
        deadline_at=utc_now() + timedelta(seconds=settings.job_deadline_s),
        webhook_endpoint_id=webhook_endpoint_id,
    )
    logs.bind(job_id=job.job_id, workspace_id=job.workspace_id)
    wait_s = settings.sync_wait_default_s if wait_max_s is None else wait_max_s
    wait_applied = None
    if preferences.wait_s is not None:
        wait_s = wait_applied = min(wait_s, preferences.wait_s)
    if preferences.respond_async:
        wait_s, wait_applied = 0.0, None
    # Decided before the job is encoded (the outbox row and the early start carry the same bytes), counting this
    # caller among those waiting if it will wait, as it is once its reply is expected.
    job = with_early_start(services, job, in_flight=services.replies.waiting + (1 if wait_s > 0 else 0))
    request = _Request(services, job, encode(job), time.monotonic() + wait_s, idempotency_key, fingerprint)

    if idempotency_key is not None:
        return await _complete_keyed(request, wait_applied)
    # Without a key, only a 202 needs the outbox; respond-async always answers 202, so it records first.
    if preferences.respond_async:
        await _transaction(services, lambda conn: _record(conn, job, request.event))
    finished = await _publish_and_wait(request, recorded=preferences.respond_async)
    return Outcome(job.job_id, job.model_id, finished, replayed=False, wait_applied_s=wait_applied)


async def _complete_keyed(request: _Request, wait_applied: float | None) -> Outcome:
    """Claim the key with the job's outbox row, or answer with the job the key already names."""
    job, key = request.job, request.key
    assert key is not None
    window_s = request.services.settings.idempotency_window_s

    async def claim(conn: AsyncConnection) -> idempotency.Claim:
        claimed = await idempotency.claim(
            conn,
            workspace_id=job.workspace_id,
            key=key,
            fingerprint=request.fingerprint,
            job_id=job.job_id,
            window_s=window_s,
        )
        if not claimed.replayed:
            await _record(conn, job, request.event)
        return claimed

    published = False
    try:
        for _ in range(ATTEMPTS_MAX):
            claimed = await _transaction(request.services, claim)
            if not claimed.replayed:
                published = True
                finished = await _publish_and_wait(request, recorded=True)
                return Outcome(job.job_id, job.model_id, finished, replayed=False, wait_applied_s=wait_applied)
            known, finished = await _existing(request, claimed.job_id)
            if known and not _failed_retriably(finished):
                model_id = finished.model_id if finished else job.model_id
                return Outcome(claimed.job_id, model_id, finished, replayed=True, wait_applied_s=wait_applied)
            # The key's job failed with nothing charged (or never existed): this request is a new attempt.
            if await _retake(request, failed_job_id=claimed.job_id):
                published = True
                finished = await _publish_and_wait(request, recorded=True)
                return Outcome(job.job_id, job.model_id, finished, replayed=False, wait_applied_s=wait_applied)
        raise ServiceUnavailable("this Idempotency-Key's jobs keep failing; retry shortly", retry_after_s=1)
    finally:
        if not published:
            # A replay (or a key refused): this job is never sent, so its early-start allowance is not spent.
            request.services.early_starts.give_back(job)


def _failed_retriably(finished: JobResult | None) -> bool:
    """A job that ended with nothing charged and a code that says retrying can help (a job refused by its key's
    or workspace's rate limit is `rejected` with the retriable `rate_limit_exceeded`)."""
    if finished is None or finished.status not in ("failed", "expired", "rejected") or finished.cost_tokens:
        return False
    spec = spec_of(finished.error.code if finished.error else "upstream_error")
    return spec.retriable and not spec.charged


async def _retake(request: _Request, *, failed_job_id: str) -> bool:
    """Point the key at this request's job, recorded in the same transaction; False if a concurrent retry did."""
    job, key = request.job, request.key
    assert key is not None

    async def retake(conn: AsyncConnection) -> bool:
        taken = await idempotency.retake(
            conn, workspace_id=job.workspace_id, key=key, failed_job_id=failed_job_id, job_id=job.job_id
        )
        if taken:
            await _record(conn, job, request.event)
        return taken

    return await _transaction(request.services, retake)


async def _existing(request: _Request, job_id: str) -> tuple[bool, JobResult | None]:
    """(whether the job exists, its result when finished): from the book, else by waiting for it."""
    services, workspace_id = request.services, request.job.workspace_id
    try:
        reply: asyncio.Future[JobFinished] | None = services.replies.expect(job_id)
    except ServiceUnavailable:
        reply = None  # too many callers wait already: this one gets the book's answer, or a 202
    try:
        try:
            async with services.engine.connect() as conn:
                view = await queries.job(conn, workspace_id, job_id)
            if view is None and not await acceptance.accepted_model(
                services.engine, job_id=job_id, workspace_id=workspace_id
            ):
                return False, None  # a key claimed before the outbox existed, for a job never published
        except SQLAlchemyError:
            log.warning("could not read job %s of a replayed key; answering with its id", job_id, exc_info=True)
            return True, None
        if view is not None and view.result is not None:
            return True, view.result
        return True, await _wait(request, job_id, reply)
    finally:
        if reply is not None:
            services.replies.forget(job_id, reply)


async def _publish_and_wait(request: _Request, *, recorded: bool) -> JobResult | None:
    """Publish the job within the caller's wait, then wait for its result; None means answer 202."""
    services, job = request.services, request.job
    settings = services.settings
    # Registered before publishing, so the result cannot arrive unseen.
    try:
        reply = services.replies.expect(job.job_id) if request.wait_left_s() > 0 else None
    except ServiceUnavailable:
        # Too many callers wait already: shed this one, and with it the job it recorded (if it can go).
        if recorded and not await _withdraw(request):
            return None
        raise
    try:
        publish_bound_s = settings.publish_timeout_s
        if reply is not None:
            publish_bound_s = min(publish_bound_s, max(request.wait_left_s(), settings.publish_timeout_min_s))
        await send_early_start(services, job, request.event)
        try:
            await services.publisher.submit(job.workspace_id, request.event, timeout_s=publish_bound_s)
        except ServiceUnavailable:
            if recorded and not await _withdraw(request):
                return None  # the outbox row stayed: the relay will publish the job
            raise
        except PublishAmbiguous:
            if not recorded and not await _record_safely(services, job, request.event, acknowledged=False):
                raise ServiceUnavailable(
                    f"the job queue did not answer and the database is unreachable: job {job.job_id} may still "
                    "run and be billed; send an Idempotency-Key to make retries safe",
                    retry_after_s=1,
                ) from None
            return None
        if recorded:
            services.relay.acknowledged(job.job_id)
        finished = await _wait(request, job.job_id, reply) if reply is not None else None
        # A poll must find the job before the ledger does: in the outbox, or (the database is away) in this
        # ingress's memory until the relay can write its row.
        if (
            finished is None
            and not recorded
            and not await _record_safely(services, job, request.event, acknowledged=True)
        ):
            services.relay.unrecorded(job, request.event)
        return finished
    finally:
        if reply is not None:
            services.replies.forget(job.job_id, reply)


def with_early_start(services: Services, job: ChatJobSubmitted, *, in_flight: int) -> ChatJobSubmitted:
    """The job, saying whether it gets an early start (the gate allows it, ingress/early_start.py): decided before
    the job is encoded, since the submission carries the answer to the ledger (schemas ChatJobSubmitted)."""
    gate = services.early_starts
    allowed = gate.allows(job, in_flight) and gate.topic_of(job, services.settings.topic_prefix) is not None
    return job.model_copy(update={"early_start": allowed})


async def send_early_start(services: Services, job: ChatJobSubmitted, event: bytes) -> bool:
    """Send the job's worker lane its head start if `with_early_start` gave it one; whether it was handed over.

    A send that fails leaves the job saying `early_start: true`, which is harmless: the worker then simply starts
    at the dispatch."""
    if not job.early_start:
        return False
    topic = services.early_starts.topic_of(job, services.settings.topic_prefix)
    return topic is not None and await services.publisher.early_start(topic, job.job_id, event)


async def _wait(request: _Request, job_id: str, reply: asyncio.Future[JobFinished] | None) -> JobResult | None:
    if reply is None or request.wait_left_s() <= 0:
        return None
    try:
        async with asyncio.timeout(request.wait_left_s()):
            result = await asyncio.shield(reply)
        request.services.early_starts.observe(request.job.workspace_id, result)
        return result
    except TimeoutError:
        return None
    except ResultUnreadable:
        return await _from_book(request.services, request.job.workspace_id, job_id)


async def _from_book(services: Services, workspace_id: str, job_id: str) -> JobResult | None:
    """The job's result read from the ledger's book (its result record did not decode); None: answer 202."""
    try:
        async with services.engine.connect() as conn:
            view = await queries.job(conn, workspace_id, job_id)
    except SQLAlchemyError:
        log.warning("could not read job %s from the book; answering with its id", job_id, exc_info=True)
        return None
    return view.result if view is not None else None


async def _withdraw(request: _Request) -> bool:
    """Nothing reached the broker: drop the outbox row and free the key together. False if the database
    failed too, in which case the row stays, the relay publishes the job, and the caller gets a 202."""
    job, key = request.job, request.key

    async def withdraw(conn: AsyncConnection) -> None:
        await acceptance.discard(conn, job.job_id)
        if key is not None:
            await idempotency.release(conn, workspace_id=job.workspace_id, key=key, job_id=job.job_id)

    try:
        await _transaction(request.services, withdraw)
    except ServiceUnavailable:
        log.warning("job %s could not be withdrawn; the relay will publish it", job.job_id)
        return False
    return True


async def _record(conn: AsyncConnection, job: ChatJobSubmitted, event: bytes, *, acknowledged: bool = False) -> None:
    await acceptance.record(
        conn,
        job_id=job.job_id,
        workspace_id=job.workspace_id,
        model_id=job.model_id,
        event=event,
        deadline_at=job.deadline_at,
        acknowledged=acknowledged,
    )


async def _record_safely(services: Services, job: ChatJobSubmitted, event: bytes, *, acknowledged: bool) -> bool:
    try:
        await _transaction(services, lambda conn: _record(conn, job, event, acknowledged=acknowledged))
    except ServiceUnavailable:
        log.warning("job %s could not be recorded in the outbox", job.job_id)
        return False
    return True


async def _transaction(services: Services, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run `work` in one transaction; a database failure becomes a 503 (nothing was accepted by it)."""
    try:
        async with services.engine.begin() as conn:
            return await work(conn)
    except SQLAlchemyError as exc:
        log.warning("database unavailable: %s", exc)
        raise ServiceUnavailable(
            "the database is unavailable; nothing was accepted or charged", retry_after_s=1
        ) from exc
