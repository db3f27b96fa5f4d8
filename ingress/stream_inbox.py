"""A held stream's inbox: the deltas and held notice routed to it, and one wake-up for the one task reading it.

An `asyncio.Queue` served before, read beside the job's reply future with a getter task and `asyncio.wait`
per delta: three turns of the event loop between a delta's arrival and its reader running, and a task created
for every delta. A stream has one reader, so one future it awaits is enough: a delta put here (or `wake`,
which the job's reply calls) makes that reader's task the next one to run.
"""

from __future__ import annotations

import asyncio
from collections import deque

from schemas.events import ChatJobHeld, ChatStreamDelta

# What a held stream's inbox carries: its answer's deltas, and the ledger's notice that its credit is held.
StreamEvent = ChatStreamDelta | ChatJobHeld


class StreamInbox:
    def __init__(self, capacity: int) -> None:
        self._events: deque[StreamEvent] = deque()
        self._capacity = capacity
        self._arrival: asyncio.Future[None] | None = None

    def put(self, event: StreamEvent) -> bool:
        """Keep the event for the reader; False (dropped) when `capacity` events already wait."""
        if len(self._events) >= self._capacity:
            return False
        self._events.append(event)
        self.wake()
        return True

    def take(self) -> StreamEvent | None:
        """The oldest waiting event, if any."""
        return self._events.popleft() if self._events else None

    def wake(self) -> None:
        """End the reader's `wait` (something else it watches, its job's reply, is in)."""
        if self._arrival is not None and not self._arrival.done():
            self._arrival.set_result(None)

    async def wait(self, timeout_s: float) -> None:
        """Return once an event waits or `wake` is called, or after `timeout_s`; the caller looks at what it has."""
        if self._events:
            return
        self._arrival = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout_s):
                await self._arrival
        except TimeoutError:
            pass
        finally:
            self._arrival = None
