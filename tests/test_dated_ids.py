"""Ids that carry their creation time (ingress/dated_ids.py): exact to the microsecond; nothing else reads as one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingress import dated_ids
from ingress.batch_files import FILE_PREFIX
from ingress.batch_ingest import BATCH_PREFIX, new_batch_id

INSTANTS = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(4000, 1, 1), timezones=st.just(UTC))


@given(INSTANTS)
def test_an_id_gives_back_its_creation_time_to_the_microsecond(at: datetime) -> None:
    for prefix in (FILE_PREFIX, BATCH_PREFIX):
        made = dated_ids.new_id(prefix, at)
        assert made.startswith(prefix) and dated_ids.created_at(prefix, made) == at


def test_ids_of_the_same_instant_differ_and_a_batch_keeps_96_random_bits_first() -> None:
    at = datetime(2026, 12, 5, 10, 30, 1, 123456, tzinfo=UTC)
    first, second = new_batch_id(at), new_batch_id(at)
    assert first != second and len(first) == len(BATCH_PREFIX) + 46
    # Batch line events take their ids from the first 24 digits (ingress/batch_lines.py): random, not the time.
    assert first.removeprefix(BATCH_PREFIX)[:24] != second.removeprefix(BATCH_PREFIX)[:24]
    assert dated_ids.created_at(BATCH_PREFIX, first) == at


@pytest.mark.parametrize(
    "cursor",
    [
        "file-0123456789abcdef0123456789abcdef",  # an id made before ids carried their time
        "file-nope",
        "file-" + "0" * 45,
        "file-" + "0" * 47,
        "file-" + "A" * 46,  # upper case: never made here
        "file-" + "g" * 46,
        "batch_" + "0" * 46,  # another prefix
        "file-out-batch_" + "0" * 46,
        "",
    ],
)
def test_anything_else_carries_no_time(cursor: str) -> None:
    assert dated_ids.created_at(FILE_PREFIX, cursor) is None


def test_an_instant_an_id_cannot_carry_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be carried"):
        dated_ids.new_id(FILE_PREFIX, datetime(1969, 12, 31, tzinfo=UTC))
    with pytest.raises(ValueError, match="cannot be carried"):
        dated_ids.new_id(FILE_PREFIX, datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=16**14))
