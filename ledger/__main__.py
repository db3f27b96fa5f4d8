"""Runs the ledger worker: `python -m ledger`."""

from __future__ import annotations

import faust

from ledger.app import create_ledger
from ledger.settings import LedgerSettings
from runtime.logs import configure_logging
from runtime.readiness import clear_ready


def main() -> None:
    settings = LedgerSettings()
    configure_logging(settings.log_level)
    clear_ready(settings.ready_file)
    ledger = create_ledger(settings)
    worker = faust.Worker(ledger.app, loglevel=settings.log_level.lower())
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
