"""Runs the ledger's hot-path statements on psycopg's own connection, inside the caller's SQLAlchemy transaction.

Why: at batch size 1 (the c=1 path, where every job is its own batch) each stage is a handful of statements, and
SQLAlchemy's `text()` execution costs about three times the driver's own CPU per statement (a greenlet switch,
the compiled-statement cache, result metadata and row processing): ~165 µs against ~50 µs for the same statement
on this machine. Nothing else changes: it is the same connection and the same transaction, psycopg adapts the
parameters as it did under SQLAlchemy, and it still prepares each statement on the server once it has run a few
times.

The hot stages' transactions are the driver's too (`transaction`), for the same reason: SQLAlchemy's
`engine.begin()` adds ~60 µs of CPU per transaction over the driver's own BEGIN and COMMIT, and the c=1 path runs
two per job; the dispatch mark (`run_alone`) is one autocommit statement without SQLAlchemy's isolation-level
switch; each stage keeps its connection between batches (`StageConnection`). The functions here also work inside
a transaction SQLAlchemy runs (`engine.begin()`, as the tests and the cold paths do): they join it.

Errors keep SQLAlchemy's types (`IntegrityError`, `DataError`, `OperationalError`...), which callers, the consume
policy and the refusal codes read; a connection the error broke is invalidated in SQLAlchemy's pool, as its own
execution would have done. Statements use psycopg's placeholders (`%(name)s`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, LiteralString

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

Row = dict[str, Any]


# The hot stages' BEGIN also makes the transaction plan its statements generically, in the same round trip (a
# simple-protocol query may hold several commands). PostgreSQL otherwise re-plans each prepared statement at every
# execution: their estimated generic cost (an array parameter of unknown length, a JSON document of unknown size)
# loses to a custom plan's, yet planning these CTEs cost ~0.6 ms of the server's CPU per job at batch size 1. The
# generic plans are the same index scans (every statement finds its rows by id).
_BEGIN = "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan"


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One transaction of a hot stage on a connection of the pool (the stages use their own: `StageConnection`)."""
    async with engine.connect() as conn, _transaction_on(conn) as joined:
        yield joined


class StageConnection:
    """A stage's own connection, kept from one batch to the next (ledger/app.py holds one per stage).

    Why: checking a connection out of SQLAlchemy's pool and back in costs ~150 µs of CPU (its reset on return, the
    wrapper objects, greenlet switches), and the c=1 path took three per job: admission, its dispatch mark,
    settlement. A stage runs one batch at a time (ledger/batches.py), so one connection serves it; the lock only
    makes a second user wait. After any failure the connection goes back to the pool (which discards it if the
    failure broke it) and the next use takes another: a batch never starts on what a failure left behind.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """The stage's connection, in no transaction: taken from the pool at first use and after a failure."""
        async with self._lock:
            if self._conn is not None and _connection(self._conn).pgconn.transaction_status != TransactionStatus.IDLE:
                # Left in a transaction by a statement run through SQLAlchemy outside one of ours: the pool's
                # reset rolls it back.
                await self.close()
            if self._conn is None:
                self._conn = await self._engine.connect()
            try:
                yield self._conn
            except BaseException:
                await self.close()
                raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One transaction of the stage on its connection (as `transaction` runs them)."""
        async with self.connection() as conn, _transaction_on(conn) as joined:
            yield joined

    async def close(self) -> None:
        """Hand the connection back to the pool."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()


@asynccontextmanager
async def _transaction_on(conn: AsyncConnection) -> AsyncIterator[AsyncConnection]:
    """One transaction of a hot stage on `conn` (in no transaction), begun and committed (or rolled back) on the
    driver.

    psycopg runs in autocommit mode meanwhile, so that it sends no BEGIN of its own: `_BEGIN` opens the
    transaction. Statements run through SQLAlchemy on the connection join it (nothing in the stages commits on its
    own). Errors, the commit's included (the book's deferred checks run there), come out as SQLAlchemy's."""
    driver = _connection(conn)
    await driver.set_autocommit(True)
    try:
        await _command(conn, driver, _BEGIN)
        try:
            yield conn
        except BaseException:
            await _roll_back(driver)
            raise
        await _command(conn, driver, "COMMIT")
    finally:
        await _restore(conn, driver)


async def _command(conn: AsyncConnection, driver: psycopg.AsyncConnection[Any], command: LiteralString) -> None:
    try:
        # Never prepared: transaction control costs nothing to parse.
        await driver.execute(command, prepare=False)
    except psycopg.Error as error:
        raise await _translated(conn, driver, command, {}, error) from error


async def _restore(conn: AsyncConnection, driver: psycopg.AsyncConnection[Any]) -> None:
    """Hand the connection back to the pool as it was lent (not in autocommit); one that cannot be (broken, or
    still busy after a cancellation) is discarded instead, never lent again."""
    if not (driver.broken or driver.closed):
        try:
            await driver.set_autocommit(False)
            return
        except psycopg.Error:
            log.warning("a ledger connection could not be restored after its transaction; discarded", exc_info=True)
    await conn.invalidate()


async def _roll_back(driver: psycopg.AsyncConnection[Any]) -> None:
    """Roll back after a failure, which stays the error raised: a rollback that fails too is only logged."""
    if driver.broken or driver.closed:
        return
    try:
        await driver.execute("ROLLBACK", prepare=False)
    except psycopg.Error:
        log.warning("rolling back a failed ledger transaction failed too", exc_info=True)


async def fetch(conn: AsyncConnection, statement: LiteralString, params: Mapping[str, Any]) -> list[Row]:
    """Run one statement; its rows, each a dict by column name."""
    driver = await _joined(conn)
    try:
        cursor = driver.cursor(row_factory=dict_row)
        await cursor.execute(statement, params)
        return await cursor.fetchall()
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
        await _restore(conn, driver)


def conflict(statement: str, reason: str) -> exc.StatementError:
    """A write that met rows a concurrent transaction committed after this one read: refused as PostgreSQL refuses
    a serialization failure (transient, so the consume policy retries the batch, which then reads them)."""
    return exc.DBAPIError.instance(statement, None, psycopg.errors.SerializationFailure(reason), psycopg.Error)


async def _joined(conn: AsyncConnection) -> psycopg.AsyncConnection[Any]:
    """The psycopg connection under `conn`, in the transaction its statements are to join.

    Inside `transaction` the driver is in it already. Otherwise SQLAlchemy runs it, and begins lazily, at its own
    first statement: a statement run here first would begin a transaction SQLAlchemy does not know of, which its
    `commit()` would skip and its return to the pool would roll back; so it is begun here."""
    driver = _connection(conn)
    if driver.pgconn.transaction_status == TransactionStatus.IDLE and not conn.in_transaction():
        await conn.begin()
    return driver


def _connection(conn: AsyncConnection) -> psycopg.AsyncConnection[Any]:
    sync = conn.sync_connection
    assert sync is not None, "the connection is started by `async with engine.begin()` / `engine.connect()`"
    driver = sync.connection.driver_connection
    assert isinstance(driver, psycopg.AsyncConnection), "the ledger's engines run on psycopg's async driver"
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
