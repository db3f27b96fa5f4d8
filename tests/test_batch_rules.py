"""Pure batch rules: splitting a streamed upload into numbered lines, and the round-robin release across workspaces."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ingress.batch_ingest import completion_window_s
from ingress.batch_rendering import window_text
from ingress.batch_stream import OVERSIZED, numbered_lines
from ledger.batch_fairness import Candidate, allot
from schemas.errors import InvalidRequest


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _lines(*parts: bytes, line_max_bytes: int = 16) -> list[tuple[int, bytes]]:
    return [item async for item in numbered_lines(_chunks(*parts), line_max_bytes=line_max_bytes)]


async def test_lines_are_numbered_across_chunk_boundaries_and_blank_lines_count() -> None:
    assert await _lines(b'{"a"', b":1}\n\n", b"  \r\n", b"{}\r\n{", b"}") == [(1, b'{"a":1}'), (4, b"{}"), (5, b"{}")]


async def test_an_oversized_line_is_reported_by_number_and_the_next_line_survives() -> None:
    found = await _lines(b"x" * 10, b"y" * 10, b"z" * 100, b"\n{}\n", b"w" * 40)
    assert found == [(1, OVERSIZED), (2, b"{}"), (3, OVERSIZED)]
    assert await _lines(b"x" * 17 + b"\n{}") == [(1, OVERSIZED), (2, b"{}")]
    assert await _lines(b"x" * 16 + b"\n") == [(1, b"x" * 16)]


def _lines_of(workspace: str, count: int, pool: str = "p", batch: str | None = None) -> list[Candidate]:
    return [Candidate(batch or f"b-{workspace}", n, pool) for n in range(1, count + 1)]


def test_a_workspace_with_a_million_lines_takes_no_more_of_a_round_than_one_with_a_hundred() -> None:
    candidates = {"big": _lines_of("big", 5000), "small": _lines_of("small", 100)}
    chosen = allot(candidates, {"p": 200}, budget=1000, quantum=50, rotation=0)
    by_batch = [c.batch_id for c in chosen]
    assert by_batch.count("b-small") == 100 and by_batch.count("b-big") == 100


def test_release_is_bounded_by_the_budget_and_each_pools_free_slots_and_keeps_line_order() -> None:
    candidates = {
        "a": [Candidate("a1", 1, "p"), Candidate("a1", 2, "q"), Candidate("a1", 3, "p")],
        "b": _lines_of("b", 10, pool="p"),
    }
    chosen = allot(candidates, {"p": 3, "q": 0}, budget=10, quantum=2, rotation=0)
    # a1's line 2 finds pool q full, so a1 stops there: a batch is always released as a prefix.
    assert [(c.batch_id, c.line_no) for c in chosen] == [("a1", 1), ("b-b", 1), ("b-b", 2)]
    assert len(allot({"b": _lines_of("b", 10)}, {"p": 100}, budget=4, quantum=3, rotation=0)) == 4


def test_the_workspace_served_first_rotates_from_tick_to_tick() -> None:
    candidates = {"a": _lines_of("a", 5), "b": _lines_of("b", 5)}
    first = [allot(candidates, {"p": 10}, budget=1, quantum=1, rotation=r)[0].batch_id for r in range(2)]
    assert first == ["b-a", "b-b"]


def test_the_completion_window_is_bounded() -> None:
    assert completion_window_s("24h", max_s=7 * 86_400) == 86_400
    assert completion_window_s("90m", max_s=7 * 86_400) == 5400
    for bad in ("24", "0h", "8d", "1w", "-1h", "1.5h"):
        with pytest.raises(InvalidRequest):
            completion_window_s(bad, max_s=7 * 86_400)


@pytest.mark.parametrize(
    ("sent", "reported"), [("24h", "24h"), ("1d", "24h"), ("2d", "48h"), ("1h", "1h"), ("90m", "90m"), ("45s", "45s")]
)
def test_the_completion_window_is_reported_in_openais_form(sent: str, reported: str) -> None:
    """OpenAI's Batch object says `"24h"`; a window of whole hours is never reported in days."""
    assert window_text(completion_window_s(sent, max_s=7 * 86_400)) == reported
