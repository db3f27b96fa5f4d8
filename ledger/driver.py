"""Runs the ledger's hot-path statements on psycopg's own connection, inside the caller's SQLAlchemy transaction.

Why: at batch size 1 (the c=1 path, where every job is its own batch) each stage is a handful of statements, and
SQLAlchemy's `text()` execution costs about three times the driver's own CPU per statement (a greenlet switch,
the compiled-statement cache, result metadata and row processing): ~165 µs against ~50 µs for the same statement
on this machine. Nothing else changes: it is the same connection and the same transaction (SQLAlchemy's begin
and commit are psycopg's), psycopg adapts the parameters as it did under SQLAlchemy, and it still prepares each
statement on the server once it has run a few times.

The hot stages' transactions are psycopg's too (`transaction`), for the same reason: SQLAlchemy's `engine.begin()`
adds ~60 µs of CPU per transaction over the driver's own BEGIN and COMMIT, and the c=1 path runs two per job; the
dispatch mark (`run_alone`) is one autocommit statement without SQLAlchemy's isolation-level switch. The
functions here also work inside a transaction SQLAlchemy runs (`engine.begin()`, as the tests and the cold paths
do): they join it.

Errors keep SQLAlchemy's types (`IntegrityError`, `DataError`, `OperationalError`...), which callers, the consume
policy and the refusal codes read; a connection the error broke is invalidated in SQLAlchemy's pool, as its own
execution would have done. Statements use psycopg's placeholders (`%(name)s`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, LiteralString

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

Row = dict[str, Any]


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One transaction on a pooled connection, begun and committed (or rolled back) by psycopg itself.

    Statements run through SQLAlchemy on the yielded connection join it; a `commit()` through SQLAlchemy inside it
    is refused by psycopg, loudly. Errors, the commit's included (the book's deferred checks run there), come out
    as SQLAlchemy's."""
    async with engine.connect() as conn:
        driver = _connection(conn)
        try:
            async with driver.transaction():
                yield conn
        except psycopg.Error as error:
            raise await _translated(conn, driver, "COMMIT", {}, error) from error


async def fetch(conn: AsyncConnection, statement: LiteralString, params: Mapping[str, Any]) -> list[Row]:
    """Run one statement; its rows, each a dict by column name."""
    driver = await driver_of(conn)
    try:
        cursor = driver.cursor(row_factory=dict_row)
        await cursor.execute(statement, params)
        return await cursor.fetchall()
    except psycopg.Error as error:
        raise await _translated(conn, driver, statement, params, error) from error


async def run(conn: AsyncConnection, statement: LiteralString, params: Mapping[str, Any]) -> int:
    """Run one statement for its effect; how many rows it changed."""
    driver = await driver_of(conn)
    try:
        cursor = driver.cursor()
        await cursor.execute(statement, params)
        return cursor.rowcount
    except psycopg.Error as error:
        raise await _translated(conn, driver, statement, params, error) from error


async def run_alone(conn: AsyncConnection, statement: LiteralString, params: Mapping[str, Any]) -> int:
    """Run one statement in a transaction of its own (autocommit: one round trip, no BEGIN and COMMIT) on a
    connection in no transaction; how many rows it changed."""
    driver = _connection(conn)
    await driver.set_autocommit(True)
    try:
        cursor = driver.cursor()
        await cursor.execute(statement, params)
        return cursor.rowcount
    except psycopg.Error as error:
        raise await _translated(conn, driver, statement, params, error) from error
    finally:
        if not (driver.broken or driver.closed):
            await driver.set_autocommit(False)


def conflict(statement: str, reason: str) -> exc.DBAPIError:
    """A write that met rows a concurrent transaction committed after this one read: refused as PostgreSQL refuses
    a serialization failure (transient, so the consume policy retries the batch, which then reads them)."""
    return exc.DBAPIError.instance(statement, None, psycopg.errors.SerializationFailure(reason), psycopg.Error)


async def driver_of(conn: AsyncConnection) -> psycopg.AsyncConnection[Any]:
    """The psycopg connection under `conn`, in the transaction its statements are to join.

    Inside `transaction` psycopg runs it. Otherwise SQLAlchemy does, and begins lazily, at its own first statement:
    a statement run here first would begin a transaction SQLAlchemy does not know of, which its `commit()` would
    skip and its return to the pool would roll back; so it is begun here."""
    driver = _connection(conn)
    if driver.pgconn.transaction_status == TransactionStatus.IDLE and not conn.in_transaction():
        await conn.begin()
    return driver


def _connection(conn: AsyncConnection) -> psycopg.AsyncConnection[Any]:
    sync = conn.sync_connection
    assert sync is not None, "the connection is started by `async with engine.begin()` / `engine.connect()`"
    driver: psycopg.AsyncConnection[Any] = sync.connection.driver_connection
    return driver


async def _translated(
    conn: AsyncConnection,
    driver: psycopg.AsyncConnection[Any],
    statement: str,
    params: Mapping[str, Any],
    error: psycopg.Error,
) -> BaseException:
    broken = driver.broken or driver.closed
    if broken:
        # As SQLAlchemy does for a disconnect: the pool must not hand this connection out again.
        await conn.invalidate(error)
    return exc.DBAPIError.instance(statement, dict(params), error, psycopg.Error, connection_invalidated=broken)
