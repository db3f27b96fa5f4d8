"""A batch's OpenAI output and error files (`file-out-<batch>`, `file-err-<batch>`): never stored, rendered from the
book of record when read, and their size measured once the batch has ended (migration 0028).

An ended batch's files never change (no job of it is still running, and each line's `created` is its job's finish
time), so the first `files.retrieve` renders the file once to count its bytes and keeps the count on the batch.
Before the batch ends its files are not final and their size reads 0; their ids are not offered before then.

`files.list(purpose="batch_output")` lists them (`listed`): the files each ended batch offers (its `output_file_id`
and `error_file_id`), in the batches' creation order, a batch's output file before its error file, so a cursor
(`after=file-out-<batch>`) is a position: the batch's creation time, which its id carries, and the file's kind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ingress import batch_rendering
from ledger import batch_queries
from schemas.catalogue import Catalogue

_PREFIXES = {"file-out-": True, "file-err-": False}
# Kept once: a second measurement of the same ended batch (two first reads at once) writes nothing new.
_KEEP_SIZE = {
    True: text("UPDATE batches SET output_file_bytes = :n WHERE id = :b AND output_file_bytes IS NULL"),
    False: text("UPDATE batches SET error_file_bytes = :n WHERE id = :b AND error_file_bytes IS NULL"),
}


@dataclass(frozen=True, slots=True)
class OutputFile:
    """A batch's output file (its completed lines) or error file (every other finished line)."""

    batch_id: str
    completed: bool

    @property
    def file_id(self) -> str:
        return f"file-{'out' if self.completed else 'err'}-{self.batch_id}"


def output_file(file_id: str) -> OutputFile | None:
    """The batch file an id names; None for an uploaded file's id."""
    for prefix, completed in _PREFIXES.items():
        if file_id.startswith(prefix):
            return OutputFile(file_id.removeprefix(prefix), completed)
    return None


async def lines(
    engine: AsyncEngine, view: batch_queries.BatchView, file: OutputFile, *, chunk_lines: int
) -> AsyncIterator[bytes]:
    """The file's lines, in line order, read `chunk_lines` results at a time."""
    async for line in batch_queries.results(engine, view, chunk_lines=chunk_lines):
        if (line.state == "completed") == file.completed:
            yield batch_rendering.openai_output_line(line)


async def size(engine: AsyncEngine, view: batch_queries.BatchView, file: OutputFile, *, chunk_lines: int) -> int:
    """The file's bytes: kept once measured; measured (and kept) on the first read after the batch ended; 0 before."""
    known: int | None = view.row.output_file_bytes if file.completed else view.row.error_file_bytes
    if known is not None:
        return known
    if view.row.finished_at is None:
        return 0
    measured = 0
    async for line in lines(engine, view, file, chunk_lines=chunk_lines):
        measured += len(line)
    async with engine.begin() as conn:
        await conn.execute(_KEEP_SIZE[file.completed], {"n": measured, "b": file.batch_id})
    return measured


def offered(view: batch_queries.BatchView, now: datetime) -> list[OutputFile]:
    """The files a batch offers, as its OpenAI object names them (none before it ends, none once its results expired
    by its `output_expires_after`), its output file first."""
    expires_at = view.results_expire_at
    if expires_at is not None and expires_at <= now:
        return []
    described = batch_rendering.openai_batch(view, input_file_id=view.row.input_file_id or "")
    return [
        OutputFile(view.row.id, completed)
        for completed, file_id in (
            (True, described.output_file_id),
            (False, described.error_file_id),
        )
        if file_id is not None
    ]


async def listed(
    engine: AsyncEngine,
    workspace_id: str,
    *,
    after: tuple[OutputFile, datetime] | None,
    ascending: bool,
    limit: int,
    catalogue: Catalogue,
    now: datetime,
) -> list[tuple[OutputFile, batch_queries.BatchView]]:
    """Up to `limit` files of the workspace's ended batches, after the file `after` (with its batch's creation
    time: the batch need not exist any more)."""
    found: list[tuple[OutputFile, batch_queries.BatchView]] = []
    seen: set[str] = set()
    position = (after[1], after[0].batch_id) if after is not None else None
    # Pages of batches overlap by one (the query includes the batch at its position); two files at most a batch.
    page_batches = limit + 2
    while len(found) < limit:
        views = await batch_queries.ended_page(
            engine, workspace_id, from_position=position, ascending=ascending, limit=page_batches, catalogue=catalogue
        )
        for view in views:
            if view.row.id in seen:
                continue
            seen.add(view.row.id)
            for file in offered(view, now):
                if after is not None and file.batch_id == after[0].batch_id and not _follows(file, after[0]):
                    continue
                found.append((file, view))
        if len(views) < page_batches:
            break
        position = (views[-1].row.created_at, views[-1].row.id)
    return found[:limit]


def _follows(file: OutputFile, cursor: OutputFile) -> bool:
    """Within one batch: whether `file` comes after `cursor` (the output file comes first)."""
    return cursor.completed and not file.completed
