"""The webhook dispatcher: `python -m ledger.dispatcher`, a process of its own beside the ledger.

It claims due deliveries (the workspaces' oldest in turn), POSTs each one with at most `webhook_concurrency_max`
in flight (at most `webhook_workspace_concurrency_max` for one workspace, `webhook_endpoint_concurrency_max` for
one endpoint) and a deadline per attempt, and records every attempt. It never holds a database transaction
during a POST, and nothing waits for it: the ledger and the workers only write delivery rows, so a slow or dead
receiver costs this process a slot until the attempt's deadline, and costs them nothing. Several dispatchers may
run (SKIP LOCKED + lease).

The writers of delivery rows NOTIFY at commit (`ledger.webhook_wakeup`) and the dispatcher LISTENs
(`ledger.webhook_listener`), so a delivery goes out as soon as its row is visible. It still polls, as the
safety net: while it listens, when the next known delivery (a retry, a lease) falls due and at least every
`tick_interval_max_s`; while its LISTEN connection is down, every `poll_interval_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import Counter
from collections.abc import Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ledger import webhook_delivery, webhook_post
from ledger.webhook_delivery import Claimed, Due, WebhookPolicy
from ledger.webhook_listener import Listener
from ledger.webhook_network import NetworkPolicy
from ledger.webhook_post import ERROR_LENGTH_MAX, AttemptOutcome, Message
from ledger.webhook_settings import WebhookSettings
from runtime.consume import Backoff, Verdict, classify
from runtime.db_roles import libpq_url
from runtime.logs import configure_logging
from runtime.readiness import clear_ready, mark_ready

log = logging.getLogger(__name__)

# The shortest idle wait: a delivery already due but not claimed is locked by another dispatcher's claim, which
# commits in a moment; looking again at once would only spin.
WAIT_MIN_S = 0.02
LISTEN_BACKOFF = Backoff(initial_s=0.5, max_s=30.0)


def new_http_client(concurrency_max: int, timeout_s: float) -> httpx.AsyncClient:
    """The dispatcher's client. Every phase (connect, write, read, waiting for a pooled connection) may take the
    whole attempt's deadline: `webhook_post.attempt` bounds the attempt as a whole with the same `timeout_s`, so
    httpx's own default (5 s a phase) must not cut a receiver short first."""
    # No keep-alive: each attempt connects to the address it has just resolved and checked, never to a pooled
    # connection made for another host name on the same address.
    limits = httpx.Limits(max_connections=concurrency_max, max_keepalive_connections=0)
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(timeout_s), follow_redirects=False, trust_env=False)


class Dispatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        http: httpx.AsyncClient,
        policy: WebhookPolicy,
        network: NetworkPolicy,
        *,
        concurrency_max: int,
        poll_interval_s: float,
        endpoint_concurrency_max: int,
        workspace_concurrency_max: int,
        listen_conninfo: str | None = None,
        tick_interval_max_s: float = 5.0,
        listen_backoff: Backoff = LISTEN_BACKOFF,
    ) -> None:
        self.engine = engine
        self.http = http
        self.policy = policy
        self.network = network
        self.concurrency_max = concurrency_max
        # How often to look for due deliveries while no notification can arrive (no LISTEN connection).
        self.poll_interval_s = poll_interval_s
        # The longest idle wait while listening: the safety net for a notification that never came.
        self.tick_interval_max_s = tick_interval_max_s
        # One slow or dead endpoint takes at most this many slots: the others' deliveries keep flowing.
        self.endpoint_concurrency_max = endpoint_concurrency_max
        self._per_endpoint: Counter[str] = Counter()
        # One workspace (up to 20 endpoints, on receivers it may control) takes at most this many slots, and the
        # claim takes the workspaces' deliveries in turn: another workspace's delivery finds a slot at once.
        self.workspace_concurrency_max = workspace_concurrency_max
        self._per_workspace: Counter[str] = Counter()
        self._in_flight: set[asyncio.Task[None]] = set()
        # Set by a notification, a retry recorded, and a freed slot the loop waits for: it looks again at once.
        self._wake = asyncio.Event()
        # Whether a freed slot could let more out (every slot taken, or due deliveries left to busy endpoints),
        # and whether a claim is under way (a slot freed meanwhile is not in the busy list it sent). Otherwise a
        # finished delivery wakes nobody: at a trickle each delivery costs one claim, not two.
        self._slot_awaited = False
        self._claiming = False
        # Without a connection string the dispatcher only polls (every `poll_interval_s`).
        self.listener = None if listen_conninfo is None else Listener(listen_conninfo, self._wake.set, listen_backoff)

    async def run(self, on_ready: Callable[[], None] | None = None) -> None:
        """Listen, claim and deliver until cancelled."""
        listening = None if self.listener is None else asyncio.create_task(self.listener.run())
        try:
            await self._claim_loop(on_ready)
        finally:
            if listening is not None:
                listening.cancel()
                await asyncio.gather(listening, return_exceptions=True)

    async def _claim_loop(self, on_ready: Callable[[], None] | None) -> None:
        ready = False
        while True:
            # Cleared before the claim, so a notification or a freed slot during the claim is not lost.
            self._wake.clear()
            free = self.concurrency_max - len(self._in_flight)
            claimed = Claimed([], None)
            if free > 0:
                self._claiming = True
                try:
                    claimed = await self._claim(min(free, self.policy.batch_max))
                except Exception as error:
                    if classify(error) is not Verdict.TRANSIENT:
                        raise
                    log.warning("claiming deliveries failed transiently (%s); retrying", error)
                    await asyncio.sleep(self.poll_interval_s * 4)
                    continue
                finally:
                    self._claiming = False
                if not ready and on_ready is not None:
                    on_ready()
                ready = True
            for due in claimed.due:
                self._start(due)
            self._slot_awaited = claimed.slot_awaited or len(claimed.due) >= free
            if len(claimed.due) < free:
                # Nothing more due now: wait for a notification, a freed slot, or the next delivery to fall due.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.idle_wait_s(claimed.next_due_in_s))
            elif free <= 0:
                await self._wake.wait()

    def idle_wait_s(self, next_due_in_s: float | None) -> float:
        """How long an idle claim loop waits when nothing wakes it."""
        if self.listener is None or not self.listener.listening:
            return self.poll_interval_s
        if next_due_in_s is None:
            return self.tick_interval_max_s
        return min(self.tick_interval_max_s, max(WAIT_MIN_S, next_due_in_s))

    async def _claim(self, limit: int) -> Claimed:
        """Claim due deliveries, giving back at once those over their endpoint's or workspace's in-flight cap."""
        busy = [endpoint for endpoint, n in self._per_endpoint.items() if n >= self.endpoint_concurrency_max]
        busy_workspaces = [ws for ws, n in self._per_workspace.items() if n >= self.workspace_concurrency_max]
        claimed = await webhook_delivery.claim(
            self.engine,
            self.policy,
            limit,
            busy,
            per_workspace=self.workspace_concurrency_max,
            busy_workspaces=busy_workspaces,
        )
        taken: list[Due] = []
        over: list[Due] = []
        endpoints = Counter(self._per_endpoint)
        workspaces = Counter(self._per_workspace)
        for due in claimed.due:
            endpoint_full = due.endpoint_id is not None and endpoints[due.endpoint_id] >= self.endpoint_concurrency_max
            if endpoint_full or workspaces[due.workspace_id] >= self.workspace_concurrency_max:
                over.append(due)
                continue
            if due.endpoint_id is not None:
                endpoints[due.endpoint_id] += 1
            workspaces[due.workspace_id] += 1
            taken.append(due)
        if over:
            await webhook_delivery.release(self.engine, over)
        return Claimed(taken, claimed.next_due_in_s, slot_awaited=bool(busy or busy_workspaces or over))

    def _start(self, due: Due) -> None:
        endpoint, workspace = due.endpoint_id, due.workspace_id
        if endpoint is not None:
            self._per_endpoint[endpoint] += 1
        self._per_workspace[workspace] += 1
        task = asyncio.create_task(self._deliver(due))
        self._in_flight.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            if endpoint is not None:
                self._per_endpoint[endpoint] -= 1
                if self._per_endpoint[endpoint] <= 0:
                    del self._per_endpoint[endpoint]
            self._per_workspace[workspace] -= 1
            if self._per_workspace[workspace] <= 0:
                del self._per_workspace[workspace]
            self._done(finished)

        task.add_done_callback(done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a delivery task failed", exc_info=task.exception())
        if self._slot_awaited or self._claiming:
            self._wake.set()

    async def _deliver(self, due: Due) -> None:
        if due.url is None:
            outcome = AttemptOutcome(False, None, 0, "endpoint removed")
        elif due.message is None:
            # Its endpoint is disabled (paused): held unattempted, it goes on when the endpoint is enabled again.
            await webhook_delivery.hold(self.engine, due)
            log.info("webhook delivery %d held: its endpoint is disabled", due.delivery_id)
            return
        else:
            outcome = await self._attempt(due, due.url, due.message)
        # The outcome is recorded whatever it took; a database outage here leaves the lease to run out and
        # the delivery to be attempted again (the receiver dedupes on webhook-id).
        state = await webhook_delivery.record(self.engine, self.policy, due, outcome)
        if state == "pending":
            # A retry may fall due before the loop would look again (it read the next due time before this).
            self._wake.set()
        log.info(
            "webhook delivery %d attempt %d: %s (%s)",
            due.delivery_id,
            due.attempt,
            state,
            outcome.error or outcome.status_code,
        )

    async def _attempt(self, due: Due, url: str, message: Message) -> AttemptOutcome:
        """One attempt whose every failure is an outcome: an error `attempt` did not foresee (a bug, a library's
        surprise) is this delivery's failed attempt, logged and retried on the schedule up to `dead`, never a
        task that dies unrecorded and leaves the delivery to be leased again forever."""
        started = time.monotonic()
        try:
            return await webhook_post.attempt(
                self.http, url, message, policy=self.network, timeout_s=self.policy.timeout_s
            )
        except Exception as error:  # the top of this delivery's task: nothing above it would record the attempt
            log.exception("webhook delivery %d attempt %d: unexpected error", due.delivery_id, due.attempt)
            latency_ms = int((time.monotonic() - started) * 1000)
            detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            return AttemptOutcome(False, None, latency_ms, f"unexpected error: {detail}"[:ERROR_LENGTH_MAX])

    async def close(self) -> None:
        for task in list(self._in_flight):
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)


async def serve(settings: WebhookSettings) -> None:
    # No overflow: the delivery tasks share at most this many connections (waiting their turn for one), so a
    # burst of outcomes never opens more on a shared PostgreSQL.
    engine = create_async_engine(settings.database_url, pool_size=settings.webhook_db_pool_size, max_overflow=0)
    http = new_http_client(settings.webhook_concurrency_max, settings.webhook_timeout_s)
    dispatcher = Dispatcher(
        engine,
        http,
        settings.webhook_policy(),
        settings.network_policy(),
        concurrency_max=settings.webhook_concurrency_max,
        poll_interval_s=settings.webhook_tick_interval_s,
        endpoint_concurrency_max=settings.webhook_endpoint_concurrency_max,
        workspace_concurrency_max=settings.webhook_workspace_concurrency_max,
        listen_conninfo=libpq_url(settings.database_url),
        tick_interval_max_s=settings.webhook_tick_interval_max_s,
        listen_backoff=Backoff(settings.webhook_listen_backoff_initial_s, settings.webhook_listen_backoff_max_s),
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    running = asyncio.create_task(dispatcher.run(lambda: mark_ready(settings.ready_file)))
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            running.result()  # a permanent failure: say it loudly
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await dispatcher.close()
        await http.aclose()
        await engine.dispose()


def main() -> None:
    settings = WebhookSettings()
    configure_logging(settings.log_level)
    clear_ready(settings.ready_file)
    log.info(
        "webhook dispatcher: %d in flight at most, %d a workspace, %d an endpoint",
        settings.webhook_concurrency_max,
        settings.webhook_workspace_concurrency_max,
        settings.webhook_endpoint_concurrency_max,
    )
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
