"""One job-result record from settlement to every reader: what the ledger publishes is what the book keeps.

The result published on `jobs.results` (what a waiting caller is answered from) and the result read back
from the book (what a poll is answered from) are the same record, field for field, including what only a
finance reader needs: attempts, the price used, the estimate flag, overrun and unbilled tokens.
"""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import queries
from tests.conftest import Stack, make_workspace
from tests.test_ledger_exactly_once_e2e import PROMPT, wait_for_results
from tests.test_money_e2e import assert_book_exact


async def test_the_published_result_and_the_polled_result_are_one_record_with_nothing_dropped(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    answered = await client.post("/chat/completions", json=PROMPT, headers=workspace.headers)
    assert answered.status_code == 200, answered.text
    job_id = answered.json()["id"]

    [published] = await wait_for_results(stack, job_id, count=1)
    async with engine.connect() as conn:
        state = await queries.job(conn, workspace.id, job_id)
        detail = (
            await conn.execute(
                text("SELECT detail FROM journal_transactions WHERE job_id = :job AND kind = 'debit'"),
                {"job": job_id},
            )
        ).scalar_one()
    assert state is not None and state.result is not None
    assert published.result() == state.result
    result = state.result
    assert result.status == "completed" and result.attempts == 1
    assert result.price is not None and result.price.model_dump() == detail["price"]
    assert (result.overrun_tokens, result.unbilled_tokens, result.usage_estimated) == (0, 0, False)
    # Every renderer reads the same record: the sync answer and the poll agree on the bill.
    polled = (await client.get(f"/jobs/{job_id}", headers=workspace.headers)).json()
    for field in ("answer", "cost", "balance_left", "usage", "model", "provider", "finish_reason"):
        assert polled[field] == answered.json()[field]
    assert answered.json()["cost"] == result.cost_tokens
    await assert_book_exact(engine)
