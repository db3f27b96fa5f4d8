"""Keeps the ingress's background loops alive: a loop that crashes is logged and restarted with backoff."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from runtime.consume import Backoff

log = logging.getLogger(__name__)

# A loop that ran this long before failing starts its backoff afresh: it was healthy, not crash-looping.
HEALTHY_RUN_S = 60.0


async def supervise(name: str, run: Callable[[], Awaitable[None]], *, backoff: Backoff | None = None) -> None:
    """Run `run` forever: whatever ends it (a bug, an error no retry fixed) is logged and it starts again."""
    backoff = backoff or Backoff()
    failures = 0
    while True:
        started = time.monotonic()
        try:
            await run()
            log.error("background loop %s returned; restarting it", name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background loop %s crashed; restarting it", name)
        failures = 1 if time.monotonic() - started > HEALTHY_RUN_S else failures + 1
        await asyncio.sleep(backoff.delay_s(failures))


def start_supervised(name: str, run: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
    return asyncio.create_task(supervise(name, run), name=name)


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
