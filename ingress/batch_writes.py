"""Ingress's own batch writes besides the ingest: a cancel request, and files uploaded for batches (stored as
they stream in, in chunks, and read back the same way)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_CANCEL = text(
    "UPDATE batches SET cancel_requested_at = now() "
    "WHERE id = :b AND workspace_id = :ws AND cancel_requested_at IS NULL"
)
_INSERT_FILE = text(
    "INSERT INTO batch_files (id, workspace_id, purpose, filename, created_at) VALUES (:id, :ws, :purpose, :name, :at)"
)
_INSERT_CHUNK = text("INSERT INTO batch_file_chunks (file_id, seq, data) VALUES (:f, :seq, :data)")
_SET_SIZE = text("UPDATE batch_files SET bytes = :bytes WHERE id = :f")
_FILE = text("SELECT id, purpose, filename, bytes, created_at FROM batch_files WHERE id = :f AND workspace_id = :ws")
_CHUNK = text("SELECT data FROM batch_file_chunks WHERE file_id = :f AND seq = :seq")
_BATCH_FILE = text("SELECT input_file_id FROM batches WHERE id = :b")


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: str
    purpose: str
    filename: str
    bytes: int
    created_at: datetime


async def request_cancel(engine: AsyncEngine, workspace_id: str, batch_id: str) -> None:
    """Ask the feeder to stop releasing lines; a second request changes nothing."""
    async with engine.begin() as conn:
        await conn.execute(_CANCEL, {"b": batch_id, "ws": workspace_id})


async def store_file(
    engine: AsyncEngine, chunks: AsyncIterator[bytes], *, workspace_id: str, purpose: str, filename: str, now: datetime
) -> StoredFile:
    """Store an uploaded file chunk by chunk (each one row), so memory holds one chunk at a time."""
    file_id = f"file-{uuid.uuid4().hex}"
    size = 0
    async with engine.begin() as conn:
        await conn.execute(
            _INSERT_FILE, {"id": file_id, "ws": workspace_id, "purpose": purpose, "name": filename, "at": now}
        )
        seq = 0
        async for chunk in chunks:
            await conn.execute(_INSERT_CHUNK, {"f": file_id, "seq": seq, "data": chunk})
            seq += 1
            size += len(chunk)
        await conn.execute(_SET_SIZE, {"f": file_id, "bytes": size})
    return StoredFile(file_id, purpose, filename, size, now)


async def stored_file(engine: AsyncEngine, workspace_id: str, file_id: str) -> StoredFile | None:
    async with engine.connect() as conn:
        row = (await conn.execute(_FILE, {"f": file_id, "ws": workspace_id})).first()
    return StoredFile(row.id, row.purpose, row.filename, row.bytes, row.created_at) if row is not None else None


async def file_chunks(engine: AsyncEngine, file_id: str) -> AsyncIterator[bytes]:
    """The file's bytes, one stored chunk at a time."""
    seq = 0
    while True:
        async with engine.connect() as conn:
            data: Any = (await conn.execute(_CHUNK, {"f": file_id, "seq": seq})).scalar_one_or_none()
        if data is None:
            return
        yield bytes(data)
        seq += 1


async def input_file_of(engine: AsyncEngine, batch_id: str) -> str | None:
    async with engine.connect() as conn:
        return (await conn.execute(_BATCH_FILE, {"b": batch_id})).scalar_one_or_none()
