"""A background loop of the ingress that crashes is restarted, never silently gone."""

from __future__ import annotations

import asyncio

from ingress.supervision import start_supervised, stop


async def test_a_crashing_loop_is_restarted_until_it_runs() -> None:
    runs: list[int] = []
    healthy = asyncio.Event()

    async def loop() -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            raise RuntimeError("a bug in the loop")
        healthy.set()
        await asyncio.Event().wait()

    task = start_supervised("test-loop", loop)
    try:
        await asyncio.wait_for(healthy.wait(), timeout=10)
    finally:
        await stop(task)
    assert runs == [0, 1, 2]
    assert task.cancelled()


async def test_a_loop_that_returns_is_started_again() -> None:
    runs: list[int] = []
    again = asyncio.Event()

    async def loop() -> None:
        runs.append(1)
        if len(runs) == 2:
            again.set()

    task = start_supervised("test-returning-loop", loop)
    try:
        await asyncio.wait_for(again.wait(), timeout=10)
    finally:
        await stop(task)
    assert len(runs) >= 2
