"""A held stream's inbox: its reader wakes for a delta, for its job's reply, or at its timeout; capacity bounds it."""

from __future__ import annotations

import asyncio
import time

from ingress.stream_inbox import StreamInbox
from schemas.events import ChatJobHeld


def _held(job_id: str) -> ChatJobHeld:
    return ChatJobHeld(workspace_id="ws_inbox", job_id=job_id)


async def test_a_waiting_reader_wakes_for_the_next_event_in_order() -> None:
    inbox = StreamInbox(capacity=4)
    waiting = asyncio.ensure_future(inbox.wait(30))
    await asyncio.sleep(0)
    assert not waiting.done()
    assert inbox.put(_held("job_1"))
    assert inbox.put(_held("job_2"))
    await asyncio.wait_for(waiting, 1)
    taken = [inbox.take(), inbox.take(), inbox.take()]
    assert [event.job_id if event else None for event in taken] == ["job_1", "job_2", None]


async def test_wake_ends_the_wait_with_nothing_to_take() -> None:
    inbox = StreamInbox(capacity=4)
    waiting = asyncio.ensure_future(inbox.wait(30))
    await asyncio.sleep(0)
    inbox.wake()
    await asyncio.wait_for(waiting, 1)
    assert inbox.take() is None


async def test_the_wait_ends_at_its_timeout_and_can_wait_again() -> None:
    inbox = StreamInbox(capacity=4)
    started = time.monotonic()
    await inbox.wait(0.05)
    assert time.monotonic() - started >= 0.05
    waiting = asyncio.ensure_future(inbox.wait(30))
    await asyncio.sleep(0)
    inbox.put(_held("job_3"))
    await asyncio.wait_for(waiting, 1)
    event = inbox.take()
    assert event is not None and event.job_id == "job_3"


async def test_past_its_capacity_the_inbox_drops_what_comes() -> None:
    inbox = StreamInbox(capacity=2)
    assert [inbox.put(_held(f"job_{n}")) for n in range(3)] == [True, True, False]
    await inbox.wait(30)  # returns at once: events wait
    assert [getattr(inbox.take(), "job_id", None) for _ in range(3)] == ["job_0", "job_1", None]
