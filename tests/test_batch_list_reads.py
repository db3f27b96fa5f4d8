"""Listing batches (`GET /api/v1/batches`) says which wait for credit in a fixed number of statements, however many
batches the page holds: on PostgreSQL, a database of its own, the batch feeder ticked by hand.

A page used to read each batch's counts, and each untried batch's next line and its prices, one batch at a time.
Thirty batches of two workspaces: one short of credit (a batch the feeder ran short on, and batches stored after
it, which wait because the whole workspace waits), one whose credit pays a small line's hold but not a large one's
(untried batches, decided by their next line), with a batch being cancelled among them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from ingress.batch_writes import request_cancel
from ledger import admission, batch_queries
from schemas.catalogue import Catalogue
from tests.conftest import make_workspace
from tests.test_batch_credit_wait import credit_needed, grant
from tests.test_batch_limits import MAX_TOKENS, T0, drive, first_job, store

LARGE_MAX_TOKENS = 10 * MAX_TOKENS
LINES = 2


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements the engine sends while the block runs."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def shape(view: batch_queries.BatchView) -> tuple[str, int, int, int, int]:
    counts = view.counts
    return view.status, counts["queued"], counts["waiting_for_credit"], counts["running"], counts["total"]


async def test_a_page_of_batches_says_which_wait_for_credit_in_statements_that_do_not_grow_with_the_page(
    own_engine: AsyncEngine, catalogue: Catalogue
) -> None:
    engine = own_engine
    # Workspace "short": credit for two small holds and not quite a third. The feeder releases two lines of its
    # first batch and records the hold it ran short of; the nine batches stored after it wait behind it.
    short = await make_workspace(engine, tokens=0)
    first = await store(engine, catalogue, short, 5)
    small_hold = admission.hold_request(catalogue, await first_job(engine, first)).hold
    await grant(engine, short.id, 3 * small_hold - 1, "short")
    assert (await drive(engine, catalogue).tick(T0)).released == 2
    assert await credit_needed(engine, first) == small_hold
    waiting_behind = [await store(engine, catalogue, short, LINES) for _ in range(9)]

    # Workspace "mixed": credit for a small line's hold, not a large one's; its batches are untried, so each one's
    # next line decides. The one being cancelled waits for nothing.
    small = [await store(engine, catalogue, (mixed := await make_workspace(engine, tokens=0)), LINES)]
    large = [await store(engine, catalogue, mixed, LINES, max_tokens=LARGE_MAX_TOKENS)]
    for _ in range(9):
        small.append(await store(engine, catalogue, mixed, LINES))
        large.append(await store(engine, catalogue, mixed, LINES, max_tokens=LARGE_MAX_TOKENS))
    large_hold = admission.hold_request(catalogue, await first_job(engine, large[0])).hold
    assert small_hold < large_hold
    await grant(engine, mixed.id, large_hold - 1, "mixed")
    cancelling = large.pop()
    await request_cancel(engine, mixed.id, cancelling)

    expected = {
        first: ("in_progress", 0, 3, 2, 5),
        **dict.fromkeys(waiting_behind, ("in_progress", 0, LINES, 0, LINES)),
        **dict.fromkeys(small, ("in_progress", LINES, 0, 0, LINES)),
        **dict.fromkeys(large, ("in_progress", 0, LINES, 0, LINES)),
        cancelling: ("cancelling", LINES, 0, 0, LINES),
    }
    assert len(expected) == 30

    async def listed(workspace_id: str, limit: int) -> tuple[dict[str, tuple[str, int, int, int, int]], int]:
        with statements(engine) as sent:
            views = await batch_queries.page(engine, workspace_id, after=None, limit=limit, catalogue=catalogue)
        return {view.row.id: shape(view) for view in views}, len(sent)

    await listed(mixed.id, 1)  # the pool's connections opened (their set-up statements are not the listing's)
    short_page, short_statements = await listed(short.id, 100)
    mixed_page, mixed_statements = await listed(mixed.id, 100)
    assert short_page | mixed_page == expected
    assert set(short_page) == {first, *waiting_behind}
    # Each page's answers agree with the single-batch view's.
    for workspace_id, found in ((short.id, short_page), (mixed.id, mixed_page)):
        for batch_id, answer in found.items():
            view = await batch_queries.batch(engine, workspace_id, batch_id, catalogue=catalogue)
            assert view is not None and shape(view) == answer

    # The page, its counts; for the untried batches their next lines and those lines' prices.
    assert short_statements == 2
    assert mixed_statements == 4
    for limit in (2, 5, 11):
        page, sent = await listed(mixed.id, limit)
        assert len(page) == limit and sent == mixed_statements
