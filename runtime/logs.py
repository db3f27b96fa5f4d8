"""One logging format for every service: a JSON line per event, with the request, job and workspace it concerns.

Each line is `{"time", "level", "service", "logger", "message", "request_id", "job_id", "workspace_id"}` (plus
`exception` when there is one). The ids come from the record's `extra` when a call names them, else from the
context the service bound for the request or job being handled (`bind`), else null.

Prompts and answers are never passed to a logger unless `LUNTREX_LOG_PAYLOADS` is on, and as a safety net
every line is scrubbed of anything shaped like an API key, an admin credential or a bearer token.
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

import orjson

from runtime.telemetry_settings import TelemetrySettings

# Libraries that log every request or message at INFO: at thousands a second that is CPU and disk for
# nothing, so they speak only when something is wrong.
CHATTY_LOGGERS = ("httpx", "httpcore", "aiokafka", "faust.transport")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ID_FIELDS = ("request_id", "job_id", "workspace_id")

_ids: dict[str, ContextVar[str | None]] = {name: ContextVar(f"log_{name}", default=None) for name in ID_FIELDS}

# API keys (`lx_live_<id>_<secret>`, and the older `lx_<id>_<secret>`), webhook secrets and bearer tokens.
_SECRETS = re.compile(
    r"\blx_(?:live_)?[A-Za-z0-9]+_[A-Za-z0-9_\-]{6,}|\bwhsec_[A-Za-z0-9+/=_\-]{6,}|(?i:bearer)\s+[^\s\"',;]+"
)
REDACTED = "[redacted]"


def bind(**ids: str | None) -> list[Token[str | None]]:
    """Name the request, job or workspace the current task works for; its later log lines carry them."""
    return [_ids[name].set(value) for name, value in ids.items() if name in _ids]


def unbind(tokens: list[Token[str | None]]) -> None:
    for token in reversed(tokens):
        token.var.reset(token)


def redact(text: str) -> str:
    return _SECRETS.sub(REDACTED, text) if ("lx_" in text or "whsec_" in text or "earer" in text) else text


class JsonFormatter(logging.Formatter):
    """A log record as one JSON object on one line."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name in ID_FIELDS:
            value = getattr(record, name, None)
            document[name] = value if isinstance(value, str) else _ids[name].get()
        if record.exc_info:
            document["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            document["exception"] = redact(record.exc_text)
        return orjson.dumps(document).decode()


class RedactingTextFormatter(logging.Formatter):
    """The human-readable format, scrubbed of secrets like the JSON one."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def formatter(settings: TelemetrySettings, service: str) -> logging.Formatter:
    if settings.log_format == "json":
        return JsonFormatter(service)
    return RedactingTextFormatter(TEXT_FORMAT)


def configure_logging(level: str, *, settings: TelemetrySettings | None = None, service: str = "luntrex") -> None:
    """Root logging for one service process: one stream handler in the configured format."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(settings or TelemetrySettings(), service))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Library warnings (deprecations) become log lines in the same format instead of raw stderr text.
    logging.captureWarnings(True)
    quiet_chatty_loggers()


def quiet_chatty_loggers() -> None:
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))


def dict_config(level: str, settings: TelemetrySettings, service: str) -> dict[str, Any]:
    """The same set-up as a `logging.config.dictConfig` document, for frameworks that configure logging
    themselves (Faust's worker)."""
    factory = JsonFormatter if settings.log_format == "json" else RedactingTextFormatter
    options = {"service": service} if settings.log_format == "json" else {"fmt": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"luntrex": {"()": factory, **options}},
        "handlers": {"luntrex": {"class": "logging.StreamHandler", "formatter": "luntrex"}},
        "root": {"level": level.upper(), "handlers": ["luntrex"]},
        "loggers": {
            name: {"level": max(logging.WARNING, logging.getLevelName(level.upper()))} for name in CHATTY_LOGGERS
        },
    }
