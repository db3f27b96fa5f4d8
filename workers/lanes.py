"""Caps the calls in flight to one provider, interactive jobs first, with a floor and a ceiling for batch jobs.

Each lane of a pool has its own consumer (workers/pool.py), so an interactive job never queues behind batch
records in Kafka or behind a pool full of batch jobs. The one place the lanes still meet is a provider's
concurrency cap (`concurrency_max` in the catalogue); this limiter orders them there:
- batch jobs hold at most `batch_max` of the provider's slots, so whatever the batch backlog, at least
  `capacity - batch_max` slots are left for interactive jobs;
- when both lanes wait for a freed slot, an interactive job gets it, except while batch jobs hold fewer
  than `batch_min` slots: that floor keeps batches progressing under steady interactive load.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from schemas.topics import Lane


def batch_slots(capacity: int, share: float) -> int:
    """A share of a provider's slots as a whole number: at least one, and less than all when there are two."""
    return max(1, min(capacity - 1, math.floor(capacity * share)))


class LaneLimiter:
    def __init__(self, capacity: int, *, batch_max: int, batch_min: int) -> None:
        assert capacity >= 1, "a provider has at least one slot"
        assert 1 <= batch_min <= batch_max <= capacity, "0 < batch floor <= batch ceiling <= capacity"
        self.capacity = capacity
        self.batch_max = batch_max
        self.batch_min = batch_min
        self._in_use = dict.fromkeys(Lane, 0)
        self._waiters: dict[Lane, deque[asyncio.Future[None]]] = {lane: deque() for lane in Lane}

    @classmethod
    def from_shares(cls, capacity: int, *, batch_share_max: float, batch_share_min: float) -> LaneLimiter:
        batch_max = batch_slots(capacity, batch_share_max)
        return cls(capacity, batch_max=batch_max, batch_min=min(batch_max, batch_slots(capacity, batch_share_min)))

    def in_use(self, lane: Lane) -> int:
        return self._in_use[lane]

    @asynccontextmanager
    async def held(self, lane: Lane) -> AsyncIterator[None]:
        await self.acquire(lane)
        try:
            yield
        finally:
            self.release(lane)

    async def acquire(self, lane: Lane) -> None:
        if not self._waiters[lane] and self._next_lane(arriving=lane) is lane:
            self._in_use[lane] += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[lane].append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # Granted, then cancelled before it ran: the slot goes to the next in line.
                self.release(lane)
            else:
                self._waiters[lane].remove(waiter)
            raise

    def release(self, lane: Lane) -> None:
        assert self._in_use[lane] > 0, f"release of a {lane} slot not held"
        self._in_use[lane] -= 1
        while (lane_next := self._next_lane()) is not None:
            self._in_use[lane_next] += 1
            self._waiters[lane_next].popleft().set_result(None)

    def _may_take(self, lane: Lane) -> bool:
        if sum(self._in_use.values()) >= self.capacity:
            return False
        return lane is Lane.INTERACTIVE or self._in_use[Lane.BATCH] < self.batch_max

    def _next_lane(self, arriving: Lane | None = None) -> Lane | None:
        """The lane whose job gets the next free slot (`arriving` counts as waiting), or None."""

        def waiting(lane: Lane) -> bool:
            return lane is arriving or bool(self._waiters[lane])

        batch_ready = waiting(Lane.BATCH) and self._may_take(Lane.BATCH)
        if batch_ready and self._in_use[Lane.BATCH] < self.batch_min:
            return Lane.BATCH
        if waiting(Lane.INTERACTIVE) and self._may_take(Lane.INTERACTIVE):
            return Lane.INTERACTIVE
        return Lane.BATCH if batch_ready else None
