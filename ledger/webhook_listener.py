"""The webhook dispatcher's LISTEN connection: hears the writers of due deliveries (`ledger.webhook_wakeup`) and
wakes the dispatcher's claim loop at once.

It holds one autocommit psycopg connection of its own, outside the engine's pool, because a pooled connection
goes back to the pool (and stops hearing) after each use. A notification is a hint, never the only way a
delivery is found: while the connection is down the dispatcher polls, and every time it comes back up the
listener wakes the dispatcher once, for the rows committed while nobody was listening.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.pq.abc import PGconn

from ledger.webhook_wakeup import CHANNEL
from runtime.consume import Backoff

log = logging.getLogger(__name__)

# A connection that died without a word (a host gone, a cable pulled) is noticed after about a minute by TCP
# keepalives, not after the hours of the operating system's default; meanwhile the fallback poll delivers.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


class Listener:
    """LISTENs on the wake channel and calls `wake` at each notification, at each (re)connection and at each
    drop (so the dispatcher switches to polling at once); reconnects with `backoff` until cancelled."""

    def __init__(self, conninfo: str, wake: Callable[[], None], backoff: Backoff) -> None:
        self.conninfo = conninfo
        self.wake = wake
        self.backoff = backoff
        # True only while notifications can arrive: the dispatcher may wait long only then.
        self.listening = False
        # The server process of the current connection (a test terminates it to drop the connection).
        self.backend_pid: int | None = None
        # LISTEN connections made so far.
        self.connections = 0

    async def run(self) -> None:
        failures = 0
        while True:
            connections = self.connections
            try:
                await self._listen()
            except (psycopg.Error, OSError) as error:
                log.warning("webhook LISTEN connection lost (%s); polling until it is back", error)
            else:
                log.warning("webhook LISTEN connection ended; polling until it is back")
            # The delays grow while connecting fails, and start over after a connection that worked.
            failures = 0 if self.connections != connections else failures + 1
            await asyncio.sleep(self.backoff.delay_s(failures))

    async def _listen(self) -> None:
        try:
            conninfo = make_conninfo(self.conninfo, **KEEPALIVES)
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                self.backend_pid = conn.info.backend_pid
                self.connections += 1
                self.listening = True
                log.info("webhook dispatcher LISTENs on %s", CHANNEL)
                # Rows committed before LISTEN took effect sent their notification to nobody: look once now.
                self.wake()
                await self._hear(conn.pgconn)
        finally:
            was_listening, self.listening = self.listening, False
            if was_listening:
                # The dispatcher may be in a long wait that counted on notifications: back to polling now.
                self.wake()

    async def _hear(self, pgconn: PGconn) -> None:
        """Wake the dispatcher at each packet of notifications, until the connection fails (an OperationalError).

        The socket is read only when the event loop says it is readable: psycopg's `notifies()` also wakes every
        100 ms to look for interrupts, ten wake-ups a second of a process that is otherwise asleep."""
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        fd = pgconn.socket
        loop.add_reader(fd, readable.set)
        try:
            while True:
                await readable.wait()
                readable.clear()
                pgconn.consume_input()  # raises once the server or the network has closed the connection
                heard = False
                while pgconn.notifies() is not None:
                    heard = True
                if heard:
                    self.wake()
        finally:
            loop.remove_reader(fd)
