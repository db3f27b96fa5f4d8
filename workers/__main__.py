"""Runs model worker pools: `python -m workers` (all pools) or with LUNTREX_POOLS='["openai"]'."""

from __future__ import annotations

import asyncio
import contextlib

import uvloop

from runtime.logs import configure_logging
from runtime.readiness import clear_ready
from workers.app import run_workers
from workers.settings import WorkerSettings


def main() -> None:
    settings = WorkerSettings()
    configure_logging(settings.log_level, settings=settings, service="workers")
    clear_ready(settings.ready_file)
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(run_workers(settings))


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
