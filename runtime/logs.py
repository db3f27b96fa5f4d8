"""One logging format for every service."""

from __future__ import annotations

import logging

# Libraries that log every request or message at INFO: at thousands a second that is CPU and disk for
# nothing, so they speak only when something is wrong.
CHATTY_LOGGERS = ("httpx", "httpcore", "aiokafka", "faust.transport")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
