"""Files uploaded for batches (OpenAI's `files.create(purpose="batch")`): stored as they stream in, one row per
chunk, read back the same way, listed by workspace and deleted by their owner.

A file is kept until its owner deletes it, or until the expiry its upload asked for (`expires_after`, migration
0029): from then on it reads as gone, and the ingress's pruner (`ingress/outbox_pruning.py`) deletes it with its
chunks. A batch made from a file has its own
copy of the lines (`batch_lines`), so deleting the file later changes nothing for the batch, which still names
it as its `input_file_id`. A read that finds the file deleted midway (its chunks gone) raises `FileDeleted`
rather than hand out part of a file as if it were all of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ingress import dated_ids
from schemas.errors import NotFound

FILE_PREFIX = "file-"

_INSERT_FILE = text(
    "INSERT INTO batch_files (id, workspace_id, purpose, filename, created_at, expires_at) "
    "VALUES (:id, :ws, :purpose, :name, :at, :expires_at)"
)
_COLUMNS = "SELECT id, purpose, filename, bytes, created_at, expires_at FROM batch_files "
# A file past its expiry is gone to every read, whether or not the pruner has deleted it yet.
_LIVE = "(expires_at IS NULL OR expires_at > now())"
_INSERT_CHUNK = text("INSERT INTO batch_file_chunks (file_id, seq, data) VALUES (:f, :seq, :data)")
_SET_SIZE = text("UPDATE batch_files SET bytes = :bytes WHERE id = :f")
_FILE = text(_COLUMNS + f"WHERE id = :f AND workspace_id = :ws AND {_LIVE}")
# Where a file stands in the listing, expired or not (a cursor is a position, not a read of the file).
_CREATED_AT = text("SELECT created_at FROM batch_files WHERE id = :f AND workspace_id = :ws")
_CHUNK = text("SELECT data FROM batch_file_chunks WHERE file_id = :f AND seq = :seq")
# The chunks go with the file (ON DELETE CASCADE).
_DELETE = text("DELETE FROM batch_files WHERE id = :f AND workspace_id = :ws RETURNING id")
# A page of a workspace's files by creation time, after the anchor file's (created_at, id) in the page's order.
_PAGE_WHERE = (
    _COLUMNS + f"WHERE workspace_id = :ws AND {_LIVE} AND (CAST(:purpose AS text) IS NULL OR purpose = :purpose) "
    "AND (CAST(:at AS timestamptz) IS NULL OR "
)
_PAGE = {
    "asc": text(_PAGE_WHERE + "(created_at, id) > (:at, :id)) ORDER BY created_at, id LIMIT :limit"),
    "desc": text(_PAGE_WHERE + "(created_at, id) < (:at, :id)) ORDER BY created_at DESC, id DESC LIMIT :limit"),
}


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: str
    purpose: str
    filename: str
    bytes: int
    created_at: datetime
    expires_at: datetime | None = None


class FileDeleted(NotFound):
    """The file was deleted while it was being read: what was read is not the whole file."""


async def store_file(
    engine: AsyncEngine,
    chunks: AsyncIterator[bytes],
    *,
    workspace_id: str,
    purpose: str,
    filename: str,
    now: datetime,
    expires_at: datetime | None = None,
) -> StoredFile:
    """Store an uploaded file chunk by chunk (each one row), so memory holds one chunk at a time; it expires at
    `expires_at` (None: kept until deleted)."""
    file_id = dated_ids.new_id(FILE_PREFIX, now)
    size = 0
    async with engine.begin() as conn:
        await conn.execute(
            _INSERT_FILE,
            {
                "id": file_id,
                "ws": workspace_id,
                "purpose": purpose,
                "name": filename,
                "at": now,
                "expires_at": expires_at,
            },
        )
        seq = 0
        async for chunk in chunks:
            await conn.execute(_INSERT_CHUNK, {"f": file_id, "seq": seq, "data": chunk})
            seq += 1
            size += len(chunk)
        await conn.execute(_SET_SIZE, {"f": file_id, "bytes": size})
    return StoredFile(file_id, purpose, filename, size, now, expires_at)


async def stored_file(engine: AsyncEngine, workspace_id: str, file_id: str) -> StoredFile | None:
    async with engine.connect() as conn:
        row = (await conn.execute(_FILE, {"f": file_id, "ws": workspace_id})).first()
    return _stored(row) if row is not None else None


async def file_chunks(engine: AsyncEngine, file: StoredFile) -> AsyncIterator[bytes]:
    """The file's bytes, one stored chunk at a time (one short query each, so no transaction stays open while a
    slow reader takes a large file); raises `FileDeleted` if the chunks end before the file's size."""
    seq = 0
    read = 0
    while True:
        async with engine.connect() as conn:
            data: Any = (await conn.execute(_CHUNK, {"f": file.id, "seq": seq})).scalar_one_or_none()
        if data is None:
            break
        yield bytes(data)
        read += len(data)
        seq += 1
    if read != file.bytes:
        raise FileDeleted(f"file '{file.id}' was deleted while it was being read; nothing of it was used")


async def position(engine: AsyncEngine, workspace_id: str, file_id: str) -> tuple[datetime, str] | None:
    """The listing position (created_at, id) a cursor names: read from the id when it carries its creation time
    (ingress/dated_ids.py; the file need not exist any more), else from the workspace's file row, expired or not;
    None when neither tells it."""
    created_at = dated_ids.created_at(FILE_PREFIX, file_id)
    if created_at is None:
        async with engine.connect() as conn:
            created_at = (await conn.execute(_CREATED_AT, {"f": file_id, "ws": workspace_id})).scalar_one_or_none()
    return (created_at, file_id) if created_at is not None else None


async def list_files(
    engine: AsyncEngine,
    workspace_id: str,
    *,
    purpose: str | None,
    order: Literal["asc", "desc"],
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[StoredFile]:
    """Up to `limit` of the workspace's files in creation order (`order`), after the position `after`
    ((created_at, id), `position`)."""
    params = {
        "ws": workspace_id,
        "purpose": purpose,
        "at": after[0] if after is not None else None,
        "id": after[1] if after is not None else "",
        "limit": limit,
    }
    async with engine.connect() as conn:
        rows = (await conn.execute(_PAGE[order], params)).all()
    return [_stored(row) for row in rows]


async def delete_file(engine: AsyncEngine, workspace_id: str, file_id: str) -> bool:
    """Delete the workspace's file and its bytes; False if it has no such file."""
    async with engine.begin() as conn:
        return (await conn.execute(_DELETE, {"f": file_id, "ws": workspace_id})).first() is not None


def _stored(row: Any) -> StoredFile:
    return StoredFile(row.id, row.purpose, row.filename, row.bytes, row.created_at, row.expires_at)
