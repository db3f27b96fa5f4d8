"""The native batch API end to end on the real services: upload (JSONL and JSON), bad lines by number,
all-or-nothing, results, cancel, isolation, and hostile lines that never stop another workspace."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.batch_client import finished, jsonl, line, results, upload, wait_batch
from tests.conftest import Stack, make_workspace
from tests.ledger_checks import balances


async def test_a_jsonl_batch_reports_bad_lines_by_number_and_runs_the_good_ones(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    workspace = await make_workspace(engine, tokens=1_000_000)
    body = jsonl(
        [
            line("a"),
            b'{"custom_id": "broken", "method": "POST"',  # line 2: malformed JSON
            line("b"),
            line("a"),  # line 4: duplicate custom_id
            b"x" * (1_048_576 + 10),  # line 5: over the line limit
            line("nul", "hello\x00world"),  # line 6: NUL in a message
            {**line("c"), "url": "/v1/embeddings"},  # line 7: not a chat completion
            line("ctrl\x07id"),  # line 8: a control character in custom_id
            line("d", model="no/such-model"),  # line 9: unknown model
            b"",  # line 10: blank, skipped
            line("e"),
        ]
    )
    created = await upload(client, workspace, body, metadata='{"team": "search"}')
    assert created.status_code == 201, created.text
    batch = created.json()
    assert batch["counts"]["total"] == 3
    assert batch["invalid_lines"] == 7
    assert [(e["line"], e["code"]) for e in batch["errors"]] == [
        (2, "invalid_json"),
        (4, "duplicate_custom_id"),
        (5, "line_too_large"),
        (6, "invalid_request"),
        (7, "invalid_request"),
        (8, "invalid_request"),
        (9, "model_not_found"),
    ]
    assert "NUL" in batch["errors"][3]["message"] and "custom_id" in batch["errors"][5]["message"]
    assert batch["metadata"] == {"team": "search"}
    done = await wait_batch(client, workspace, batch["id"], finished, log=stack.ledger.log_tail)
    assert done["status"] == "completed"
    assert done["counts"] == {**done["counts"], "total": 3, "completed": 3, "queued": 0, "running": 0, "failed": 0}
    rows = await results(client, workspace, batch["id"])
    assert [(row["custom_id"], row["line"]) for row in rows] == [("a", 1), ("b", 3), ("e", 11)]
    for row in rows:
        assert row["status"] == "completed" and row["answer"] and row["error"] is None
        assert row["cost_tokens"] == row["usage"]["input_tokens"] + row["usage"]["output_tokens"] > 0
    assert done["cost_tokens"] == sum(row["cost_tokens"] for row in rows)
    assert (await balances(engine, workspace.id))["spent"] == done["cost_tokens"]
