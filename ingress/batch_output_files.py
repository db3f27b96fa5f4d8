"""A batch's OpenAI output and error files (`file-out-<batch>`, `file-err-<batch>`): never stored, rendered from the
book of record when read, and their size measured once the batch has ended (migration 0028).

An ended batch's files never change (no job of it is still running, and each line's `created` is its job's finish
time), so the first `files.retrieve` renders the file once to count its bytes and keeps the count on the batch.
Before the batch ends its files are not final and their size reads 0; their ids are not offered before then.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ingress import batch_rendering
from ledger import batch_queries

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
