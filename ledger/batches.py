"""Opportunistic batches from an agent's concurrent actors: a lone event runs at once, batches grow under load.

Each actor of an agent holds one delivered event and hands it to `Batches.submit`, which returns once the
event is processed; only then does the actor move on, and Faust acks the event (its public, automatic ack).
The first actor to find no batch running leads: it runs one batch of every event waiting (its own first),
then hands the lead to the oldest event still waiting. While a batch runs, the other actors' events gather
for the next one, so a batch is whatever arrived during the previous one, up to the number of actors.

Rebalance safety: an event is held only while its batch runs or while it waits for the batch running now,
never for an event still to come, so a revocation waiting for acks waits at most for the batch in progress (and,
where a linger is asked for, that linger: a leader may wait up to `linger_s` for a fuller batch).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(eq=False, slots=True)
class _Waiting(Generic[T]):
    item: T
    # Resolved False once the item is processed, True when its actor is to lead the next batch.
    turn: asyncio.Future[bool]


class Batches(Generic[T]):
    """Runs `run` on batches of the items submitted concurrently; one batch at a time, in arrival order."""

    def __init__(
        self,
        run: Callable[[list[T]], Awaitable[None]],
        *,
        batch_max: int,
        linger_s: float = 0.0,
        fill_min: int = 1,
    ) -> None:
        """`linger_s`, `fill_min`: a leader finding fewer than `fill_min` items waiting waits up to `linger_s` for
        more before it runs (for work where fewer, larger batches matter more than the latency of each item)."""
        self._run = run
        self._batch_max = batch_max
        self._linger_s = linger_s
        self._fill_min = min(fill_min, batch_max)
        self._filled = asyncio.Event()
        self._queue: list[_Waiting[T]] = []
        self._leading = False

    async def submit(self, item: T) -> None:
        """Return once `item` has been processed, alone or in a batch with others."""
        mine = _Waiting(item, asyncio.get_running_loop().create_future())
        self._queue.append(mine)
        if len(self._queue) >= self._fill_min:
            self._filled.set()
        if self._leading:
            try:
                if not await mine.turn:
                    return
            except asyncio.CancelledError:
                self._give_up(mine)
                raise
        self._leading = True
        await self._lead(mine)

    async def _lead(self, mine: _Waiting[T]) -> None:
        if self._linger_s > 0 and len(self._queue) < self._fill_min:
            self._filled.clear()
            try:
                await asyncio.wait_for(self._filled.wait(), self._linger_s)
            except TimeoutError:
                pass
            except BaseException:
                # Cancelled while lingering (shutdown): nothing ran; the item is dropped, the lead passed on.
                self._queue.remove(mine)
                self._pass_lead()
                raise
        batch = self._queue[: self._batch_max]
        del self._queue[: self._batch_max]
        assert batch[0] is mine, "the leader's own item heads its batch"
        try:
            await self._run([waiting.item for waiting in batch])
        except BaseException:
            # Cancelled mid-batch (shutdown): the others were not processed; they go back to the head.
            self._queue[0:0] = [waiting for waiting in batch[1:] if not waiting.turn.done()]
            raise
        else:
            for waiting in batch[1:]:
                if not waiting.turn.done():
                    waiting.turn.set_result(False)
        finally:
            self._pass_lead()

    def _give_up(self, mine: _Waiting[T]) -> None:
        """A waiting actor was cancelled: drop its item, and if it had just been given the lead, pass it on."""
        had_lead = mine.turn.done() and not mine.turn.cancelled() and mine.turn.result()
        if mine in self._queue:
            self._queue.remove(mine)
        if had_lead:
            self._pass_lead()

    def _pass_lead(self) -> None:
        while self._queue:
            head = self._queue[0]
            if not head.turn.done():
                head.turn.set_result(True)
                return
            self._queue.pop(0)
        self._leading = False

    def __len__(self) -> int:
        """Items waiting for a batch (not counting the one running)."""
        return len(self._queue)
