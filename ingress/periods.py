"""The period (`since`, `until`) of a usage or ledger read: both ends carry a time zone, and since < until.

A time without a zone would be read in the database session's zone, which is nobody's promise: every read
refuses it alike, so one query string means the same period on every route and every deployment.
"""

from __future__ import annotations

from datetime import datetime

from schemas.errors import InvalidRequest


def check_period(since: datetime | None, until: datetime | None) -> None:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidRequest(f"{name} must carry a time zone (such as 2026-01-01T00:00:00Z)")
    if since is not None and until is not None and since >= until:
        raise InvalidRequest("since must be before until")
