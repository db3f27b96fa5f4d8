"""A ledger killed with SIGKILL between a threshold crossing and its auto top-up: after the redelivery, exactly
one top-up, because the crossing, the top-up and the debit that caused them commit together or not at all."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import crossings, debits, holds, thresholds
from tests.conftest import make_workspace
from tests.ledger_checks import assert_books_balance, balances
from tests.services import ROOT
from tests.test_ledger_repository import hold_request, usage_of

# Settles the job and runs the crossing hook in one transaction, says so, then hangs before committing.
CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from sqlalchemy.ext.asyncio import create_async_engine
    from ledger import crossings, debits
    from tests.test_ledger_repository import usage_of

    async def main(url, workspace_id, job_id):
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            settled = await debits.settle_batch(conn, {workspace_id}, [usage_of(job_id, 600)])
            events = await crossings.after_settlement(conn, settled)
            print("crossed", len(events), flush=True)
            await asyncio.sleep(60)

    asyncio.run(main(*sys.argv[1:]))
    """
)


async def test_sigkill_mid_crossing_then_redelivery_tops_up_exactly_once(
    database_url: str, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=1_000)
    job = hold_request(workspace.id, 600)
    async with engine.begin() as conn:
        await thresholds.set_auto_topup(
            conn, workspace.id, threshold_tokens=500, amount_paisa=1_000, method="card", enabled=True
        )
        await holds.admit(conn, job)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        database_url,
        workspace.id,
        job.job_id,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None
        line = (await asyncio.wait_for(child.stdout.readline(), timeout=60)).decode()
        assert line.startswith("crossed 2"), line  # the crossing and the auto top-up's success, uncommitted
    finally:
        child.send_signal(signal.SIGKILL)
        await asyncio.wait_for(child.wait(), timeout=30)
    assert (await balances(engine, workspace.id))["held"] == 600  # nothing of the killed transaction stayed

    for _ in range(2):  # the redelivery, then a second one that finds the job settled
        async with engine.begin() as conn:
            settled = await debits.settle_batch(conn, {workspace.id}, [usage_of(job.job_id, 600)])
            await crossings.after_settlement(conn, settled)
    async with engine.connect() as conn:
        counts = (
            await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM topups WHERE workspace_id = :ws), "
                    "(SELECT count(*) FROM journal_transactions WHERE workspace_id = :ws AND kind = 'topup'), "
                    "(SELECT count(*) FROM finance_events WHERE workspace_id = :ws)"
                ),
                {"ws": workspace.id},
            )
        ).one()
    assert tuple(counts) == (1, 1, 2)
    after = await balances(engine, workspace.id)
    assert (after["available"], after["held"], after["spent"]) == (400 + 5_000, 0, 600)
    await assert_books_balance(engine)
