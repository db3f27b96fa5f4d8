"""Ids of uploaded files and batches that carry their creation time, so a list cursor outlives what it names.

OpenAI's list endpoints page with `after=<the last id of the page before>` (openai-python's `SyncCursorPage`
follows it on its own), and the listing is keyed on (created_at, id). A cursor needs only that position, not the
row: the usual clean-up loop deletes each file as it pages (`for f in client.files.list(): client.files.delete(f.id)`),
an uploaded file expires (`expires_after`) and is pruned, a batch is removed by the results' retention, all while a
client pages. So an id made here is `<prefix><32 random hex digits><14 hex digits: microseconds since the Unix
epoch>`, the row's `created_at` is that same instant, and a cursor of this form is a position whether or not its
file or batch is still there (ingress/routes/openai_batches.py). The random digits come first: a batch's line
events take their ids from the first 24 of them (ingress/batch_lines.py).

Ids made before this form (`<prefix><32 hex>`) still name their rows; as a cursor such an id pages only while its
row exists (it has nothing else to tell the position by).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

RANDOM_DIGITS = 32
TIME_DIGITS = 14
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_HEX = frozenset("0123456789abcdef")


def new_id(prefix: str, created_at: datetime) -> str:
    """A new id for a row created at `created_at` (timezone-aware, stored as it is: PostgreSQL keeps microseconds)."""
    micros = (created_at - _EPOCH) // _MICROSECOND
    if not 0 <= micros < 16**TIME_DIGITS:
        raise ValueError(f"{created_at} cannot be carried in an id")
    return f"{prefix}{uuid.uuid4().hex}{micros:0{TIME_DIGITS}x}"


def created_at(prefix: str, id_: str) -> datetime | None:
    """The creation time an id of this form carries; None for anything else (an older id, or no id of ours)."""
    if not id_.startswith(prefix):
        return None
    digits = id_[len(prefix) :]
    if len(digits) != RANDOM_DIGITS + TIME_DIGITS or not _HEX.issuperset(digits):
        return None
    return _EPOCH + int(digits[RANDOM_DIGITS:], 16) * _MICROSECOND
