"""`luntrex batch ...`: submit a JSONL file as a batch, follow it, read its results, cancel it (with
LUNTREX_API_KEY, a key with the `inference` scope)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

from cli.client import Connection, connection_options, download, emit, request

# The file is sent as it is read, a chunk at a time, so a file of any size takes this much memory.
UPLOAD_CHUNK_BYTES = 1 << 20


@click.group()
def batch() -> None:
    """Batches: submit, list, show, results, cancel."""


@batch.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--window", default="24h", show_default=True, help="completion window: 24h, 90m, 2d, ...")
@click.option("--metadata", help='a JSON object of up to 16 strings, e.g. {"run": "nightly"}')
@click.option("--all-or-nothing", is_flag=True, help="refuse the whole batch if any line is bad")
@click.option("--results-expire-after", help="delete its results this long after it ends: 1h to 30d, e.g. 7d")
@connection_options
def submit(
    connection: Connection,
    path: Path,
    window: str,
    metadata: str | None,
    all_or_nothing: bool,
    results_expire_after: str | None,
) -> None:
    """Send PATH (one OpenAI batch line per line) as a batch; prints it, with its bad lines by number."""
    params = {"completion_window": window, "all_or_nothing": "true" if all_or_nothing else "false"}
    if metadata is not None:
        params["metadata"] = metadata
    if results_expire_after is not None:
        params["results_expire_after"] = results_expire_after
    created = request(
        connection,
        "POST",
        "/batches",
        admin=False,
        params=params,
        content=_chunks(path),
        headers={"Content-Type": "application/jsonl"},
    )
    emit(created)


@batch.command(name="list")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--cursor", help="the `next_cursor` of the page before")
@connection_options
def list_(connection: Connection, limit: int, cursor: str | None) -> None:
    """The workspace's batches, newest first."""
    params = {"limit": str(limit)} | ({"cursor": cursor} if cursor is not None else {})
    emit(request(connection, "GET", "/batches", admin=False, params=params))


@batch.command()
@click.argument("batch_id")
@connection_options
def show(connection: Connection, batch_id: str) -> None:
    """BATCH_ID's status, counts by state and cost so far."""
    emit(request(connection, "GET", f"/batches/{batch_id}", admin=False))


@batch.command()
@click.argument("batch_id")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="write here instead of stdout")
@connection_options
def results(connection: Connection, batch_id: str, output: Path | None) -> None:
    """BATCH_ID's finished lines as JSON lines (custom_id, answer or error, usage, cost), streamed."""
    if output is None:
        download(connection, f"/batches/{batch_id}/results", sys.stdout.buffer)
        return
    with output.open("wb") as out:
        download(connection, f"/batches/{batch_id}/results", out)


@batch.command()
@click.argument("batch_id")
@connection_options
def cancel(connection: Connection, batch_id: str) -> None:
    """Stop releasing BATCH_ID's lines: queued ones are cancelled uncharged, running ones finish and are billed."""
    emit(request(connection, "POST", f"/batches/{batch_id}/cancel", admin=False))


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(UPLOAD_CHUNK_BYTES):
            yield chunk
