"""Reads the numeric page cursors the list routes hand out: a row id, so at most PostgreSQL's bigint."""

from __future__ import annotations

from schemas.errors import InvalidRequest

# A cursor is a row id the API returned; a number past a bigint cannot be one, and PostgreSQL refuses to compare
# a bigint column with it ("out of range"), which would answer a 500 instead of a 400.
ROW_ID_MAX = 2**63 - 1
ROW_ID_DIGITS_MAX = len(str(ROW_ID_MAX))


def row_id_cursor(cursor: str | None) -> int | None:
    """The row id a `cursor` query parameter carries; anything this API could not have returned is a 400."""
    if cursor is None:
        return None
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > ROW_ID_DIGITS_MAX or int(cursor) > ROW_ID_MAX:
        raise InvalidRequest("cursor is not one this API returned")
    return int(cursor)
