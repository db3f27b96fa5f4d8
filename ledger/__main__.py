"""Runs the ledger worker: `python -m ledger`."""

from __future__ import annotations

import asyncio
import logging

import faust
import mode.loop

from ledger import price_seed
from ledger.app import create_ledger
from ledger.settings import LedgerSettings
from runtime.logs import configure_logging, dict_config
from runtime.readiness import clear_ready

log = logging.getLogger(__name__)


def main() -> None:
    # uvloop, as ingress and the workers run: the stages' every database round trip and broker fetch goes through the
    # event loop, and uvloop's costs less CPU per wakeup (bench stage: about 6 % of the ledger's CPU per job at
    # batch size 1, 30 % at 64). Chosen before anything creates a loop (the price seed's, Faust's).
    mode.loop.use("uvloop")
    settings = LedgerSettings()
    configure_logging(settings.log_level, settings=settings, service="ledger")
    clear_ready(settings.ready_file)
    # Admission prices by the price book: write the catalogue's prices into it first (idempotent). A loop of its
    # own, never made current, so Faust's worker still creates and owns the process's loop.
    loop = asyncio.new_event_loop()
    try:
        for version in loop.run_until_complete(price_seed.seed(settings)):
            log.info("price book: %s version %d from the catalogue", version.model_id, version.id)
    except Exception:
        # A book it cannot read or write (a schema behind the code, say): refuse to start, loudly.
        log.critical("seeding the price book failed permanently; the ledger does not start", exc_info=True)
        raise SystemExit(1) from None
    finally:
        loop.close()
    ledger = create_ledger(settings)
    ledger.telemetry.serve()
    worker = faust.Worker(
        ledger.app,
        loglevel=settings.log_level.lower(),
        logging_config=dict_config(settings.log_level, settings, "ledger"),
    )
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
