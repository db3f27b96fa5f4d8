"""The ledger's stages as the agents run them (driver transactions, merged statements), raced and killed.

Admission locks a batch's accounts and reads its recorded jobs in one statement, then writes the new jobs and
their holds in one; settlement locks the accounts and the jobs in one statement, then writes the debits and the
jobs' final state in one. Two ledgers own one partition for a moment during a rebalance, and a ledger can die in
any transaction: each job must still be held once and billed once, and every sum must stay exact.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import admission, driver, inbound, journal, settlement, verify
from runtime.consume import Verdict, classify
from schemas.catalogue import Catalogue
from schemas.events import JobFinished
from tests.conftest import make_workspace
from tests.ledger_checks import assert_books_balance, balances, entries_for
from tests.services import ROOT
from tests.test_ledger_hot_path import submitted, used


async def admit(engine: AsyncEngine, catalogue: Catalogue, payload: bytes) -> admission.Outcome:
    async with driver.transaction(engine) as conn:
        [outcome] = await admission.admit(
            conn, catalogue, [inbound.submitted(payload, catalogue)], default_deadline_s=600, now=datetime.now(UTC)
        )
    return outcome


async def settle(engine: AsyncEngine, catalogue: Catalogue, payload: bytes) -> JobFinished:
    async with driver.transaction(engine) as conn:
        [finished] = await settlement.settle(conn, catalogue, [inbound.usage(payload, catalogue)])
    return finished


async def waiting_for_a_lock(engine: AsyncEngine, marker: str) -> None:
    """Return once a backend runs a statement starting with `marker` and waits for a lock (the server keeps only
    the first kilobyte of a statement's text)."""
    for _ in range(600):
        async with engine.connect() as conn:
            waiting = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND starts_with(ltrim(query), :marker)"
                    ),
                    {"marker": marker},
                )
            ).scalar_one()
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no statement with {marker!r} ever waited for a lock")


async def test_two_ledgers_settling_one_job_at_once_bill_it_once(engine: AsyncEngine, catalogue: Catalogue) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    job_id = f"job_{uuid.uuid4().hex}"
    assert isinstance(await admit(engine, catalogue, submitted(workspace.id, workspace.key_id, job_id)), tuple)
    usage = used(workspace.id, job_id, "the answer", 30)

    async with driver.transaction(engine) as first:
        [billed] = await settlement.settle(first, catalogue, [inbound.usage(usage, catalogue)])
        # The other ledger's batch waits for the accounts this one holds; it reads the job once they are free.
        second = asyncio.create_task(settle(engine, catalogue, usage))
        await waiting_for_a_lock(engine, "WITH accounts AS MATERIALIZED")
    again = await second

    assert (again.status, again.cost_tokens, again.balance_left) == ("completed", 37, billed.balance_left)
    assert await entries_for(engine, job_id) == ["hold", "debit"]
    assert await balances(engine, workspace.id) == {
        "available": 100_000 - 37,
        "held": 0,
        "spent": 37,
        "funding": -100_000,
    }
    await assert_books_balance(engine)


async def test_two_ledgers_admitting_one_job_at_once_hold_it_once(engine: AsyncEngine, catalogue: Catalogue) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    job_id = f"job_{uuid.uuid4().hex}"
    payload = submitted(workspace.id, workspace.key_id, job_id)

    async with driver.transaction(engine) as first:
        [held] = await admission.admit(
            first, catalogue, [inbound.submitted(payload, catalogue)], default_deadline_s=600, now=datetime.now(UTC)
        )
        # The other ledger read the batch before this one committed the job: its write finds the job recorded.
        second = asyncio.create_task(admit(engine, catalogue, payload))
        await waiting_for_a_lock(engine, "WITH accounts AS MATERIALIZED")
    with pytest.raises(OperationalError) as conflict:
        await second
    assert classify(conflict.value) is Verdict.TRANSIENT, "the consume policy retries the batch"

    # The retry reads the job as recorded: the first decision again (not yet marked dispatched), no second hold.
    retried = await admit(engine, catalogue, payload)
    assert isinstance(held, tuple) and isinstance(retried, tuple)
    assert retried[1].hold_tokens == held[1].hold_tokens
    assert await entries_for(engine, job_id) == ["hold"]
    assert (await balances(engine, workspace.id))["held"] == held[1].hold_tokens
    await assert_books_balance(engine)


async def admit_on(stage: driver.StageConnection, catalogue: Catalogue, payload: bytes) -> admission.Outcome:
    async with stage.transaction() as conn:
        [outcome] = await admission.admit(
            conn, catalogue, [inbound.submitted(payload, catalogue)], default_deadline_s=600, now=datetime.now(UTC)
        )
    return outcome


async def test_a_stage_cancelled_while_it_waits_for_a_lock_leaves_nothing_and_goes_on(
    engine: AsyncEngine, catalogue: Catalogue
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    job_id = f"job_{uuid.uuid4().hex}"
    payload = submitted(workspace.id, workspace.key_id, job_id)
    stage = driver.StageConnection(engine)
    try:
        async with engine.begin() as holder:
            await journal.lock_accounts(holder, {workspace.id})
            # A rebalance or a shutdown cancels the stage mid-statement (Faust cancels its actors).
            waiting = asyncio.create_task(admit_on(stage, catalogue, payload))
            await waiting_for_a_lock(engine, "WITH accounts AS MATERIALIZED")
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
        assert await entries_for(engine, job_id) == []
        assert isinstance(await admit_on(stage, catalogue, payload), tuple)  # the redelivery
        async with stage.connection() as conn:
            await admission.mark_dispatched(conn, [job_id])
        async with stage.transaction() as conn:
            [finished] = await settlement.settle(
                conn, catalogue, [inbound.usage(used(workspace.id, job_id, "ok", 3), catalogue)]
            )
        assert (finished.status, finished.cost_tokens) == ("completed", 10)
    finally:
        await stage.close()
    assert await entries_for(engine, job_id) == ["hold", "debit"]
    await assert_books_balance(engine)


async def test_a_stage_whose_connection_the_database_dropped_fails_transiently_then_goes_on(
    engine: AsyncEngine, catalogue: Catalogue
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    first, second = (submitted(workspace.id, workspace.key_id, f"job_{uuid.uuid4().hex}") for _ in range(2))
    stage = driver.StageConnection(engine)
    try:
        assert isinstance(await admit_on(stage, catalogue, first), tuple)
        async with stage.connection() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await conn.rollback()
        async with engine.connect() as other:
            assert (await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})).scalar_one()
        # The kept connection is gone: the batch fails as an outage does (the consume policy retries it) ...
        with pytest.raises(OperationalError) as dropped:
            await admit_on(stage, catalogue, second)
        assert classify(dropped.value) is Verdict.TRANSIENT
        # ... and the retry runs on another connection.
        assert isinstance(await admit_on(stage, catalogue, second), tuple)
    finally:
        await stage.close()
    assert (await balances(engine, workspace.id))["held"] == 2 * 110
    await assert_books_balance(engine)


# Runs one stage in a driver transaction, says so, then hangs before its commit until killed.
CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import UTC, datetime
    from pathlib import Path
    from sqlalchemy.ext.asyncio import create_async_engine
    from ledger import admission, driver, inbound, settlement
    from runtime.catalogue_file import load_catalogue

    async def main(url, catalogue_path, stage, payload):
        catalogue = load_catalogue(Path(catalogue_path))
        engine = create_async_engine(url)
        async with driver.transaction(engine) as conn:
            if stage == "admission":
                jobs = [inbound.submitted(payload.encode(), catalogue)]
                await admission.admit(conn, catalogue, jobs, default_deadline_s=600, now=datetime.now(UTC))
            else:
                await settlement.settle(conn, catalogue, [inbound.usage(payload.encode(), catalogue)])
            print("written", flush=True)
            await asyncio.sleep(60)

    asyncio.run(main(*sys.argv[1:]))
    """
)


async def kill_mid_transaction(database_url: str, catalogue_path: str, stage: str, payload: bytes) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        database_url,
        catalogue_path,
        stage,
        payload.decode(),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None
        line = (await asyncio.wait_for(child.stdout.readline(), timeout=60)).decode()
        assert line.startswith("written"), line
    finally:
        child.send_signal(signal.SIGKILL)
        await asyncio.wait_for(child.wait(), timeout=30)


async def test_a_ledger_killed_in_either_stage_then_redelivered_holds_and_bills_each_job_once(
    database_url: str, catalogue_path: os.PathLike[str], engine: AsyncEngine, catalogue: Catalogue
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    job_id = f"job_{uuid.uuid4().hex}"
    payload = submitted(workspace.id, workspace.key_id, job_id)

    await kill_mid_transaction(database_url, str(catalogue_path), "admission", payload)
    assert await entries_for(engine, job_id) == [], "nothing of the killed admission stayed"
    assert await balances(engine, workspace.id) == {"available": 100_000, "held": 0, "spent": 0, "funding": -100_000}
    held = await admit(engine, catalogue, payload)  # the redelivery
    assert isinstance(held, tuple)

    usage = used(workspace.id, job_id, "the answer", 30)
    await kill_mid_transaction(database_url, str(catalogue_path), "settlement", usage)
    assert await entries_for(engine, job_id) == ["hold"], "nothing of the killed settlement stayed"
    assert (await balances(engine, workspace.id))["held"] == held[1].hold_tokens
    for _ in range(2):  # the redelivery, then a second one that finds the job settled
        finished = await settle(engine, catalogue, usage)
        assert (finished.status, finished.cost_tokens) == ("completed", 37)
    assert await entries_for(engine, job_id) == ["hold", "debit"]
    assert await balances(engine, workspace.id) == {
        "available": 100_000 - 37,
        "held": 0,
        "spent": 37,
        "funding": -100_000,
    }
    await assert_books_balance(engine)
    async with engine.connect() as conn:
        assert await verify.verify(conn) == []
