"""The native batch API end to end on the real services: upload (JSONL and JSON), bad lines by number,
all-or-nothing, results, cancel, isolation, and hostile lines that never stop another workspace."""

from __future__ import annotations

import httpx
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.batch_client import MODEL, finished, jsonl, line, results, rich_lines, upload, wait_batch
from tests.conftest import Stack, make_workspace
from tests.ledger_checks import assert_books_balance, balances


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
    assert done["usage"] == {
        "input_tokens": sum(row["usage"]["input_tokens"] for row in rows),
        "output_tokens": sum(row["usage"]["output_tokens"] for row in rows),
    }


async def test_all_or_nothing_refuses_the_whole_batch_and_stores_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    workspace = await make_workspace(engine, tokens=1_000_000)
    body = jsonl([line("a"), line("b"), b"not json", line("a")])
    refused = await upload(client, workspace, body, all_or_nothing="true")
    assert refused.status_code == 400, refused.text
    answer = refused.json()
    assert answer["code"] == "invalid_request" and answer["request_id"] and answer["status"] == 400
    assert answer["invalid_lines"] == 2
    assert [(e["line"], e["code"]) for e in answer["errors"]] == [(3, "invalid_json"), (4, "duplicate_custom_id")]
    listed = await client.get("/batches", headers=workspace.headers)
    assert listed.json()["data"] == []
    async with engine.connect() as conn:
        stored = (
            await conn.execute(text("SELECT count(*) FROM batches WHERE workspace_id = :ws"), {"ws": workspace.id})
        ).scalar_one()
    assert stored == 0


async def test_a_json_batch_runs_and_is_listed_page_by_page_and_hidden_from_other_workspaces(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    workspace = await make_workspace(engine, tokens=1_000_000)
    stranger = await make_workspace(engine, tokens=1_000_000)
    ids = []
    for n in range(3):
        created = await client.post(
            "/batches",
            headers=workspace.headers,
            json={"requests": [line(f"q{n}-{i}") for i in range(5)], "completion_window": "1h"},
        )
        assert created.status_code == 201, created.text
        assert created.json()["completion_window"] == "1h"
        ids.append(created.json()["id"])
    # A bare JSON array takes its options as query parameters; a line that is not an object is one bad line.
    bare = await client.post(
        "/batches", headers=workspace.headers, params={"completion_window": "2h"}, json=[line("z1"), "oops", line("z2")]
    )
    assert bare.status_code == 201, bare.text
    assert bare.json()["counts"]["total"] == 2 and bare.json()["completion_window"] == "2h"
    assert [(e["line"], e["code"]) for e in bare.json()["errors"]] == [(2, "invalid_request")]
    await wait_batch(client, workspace, bare.json()["id"], finished)
    first = (await client.get("/batches", headers=workspace.headers, params={"limit": 2})).json()
    assert [b["id"] for b in first["data"]] == [bare.json()["id"], ids[2]] and first["has_more"]
    second = (
        await client.get("/batches", headers=workspace.headers, params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert [b["id"] for b in second["data"]] == [ids[1], ids[0]] and not second["has_more"]
    for batch_id in ids:
        done = await wait_batch(client, workspace, batch_id, finished)
        assert done["counts"]["completed"] == 5
    for path in (f"/batches/{ids[0]}", f"/batches/{ids[0]}/results"):
        hidden = await client.get(path, headers=stranger.headers)
        assert hidden.status_code == 404 and hidden.json()["code"] == "not_found"
    refused = await client.post(f"/batches/{ids[0]}/cancel", headers=stranger.headers)
    assert refused.status_code == 404
    assert (await client.get("/batches", headers=stranger.headers)).json()["data"] == []


async def test_hostile_batches_cost_only_their_own_lines_and_another_workspace_still_completes(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    attacker = await make_workspace(engine, tokens=1_000_000)
    hostile = [
        b"\x00\x01\x02",
        b'{"custom_id": "' + b"i" * 5000 + b'", "method": "POST", "url": "/v1/chat/completions", "body": {}}',
        orjson.dumps(line("big")).replace(b'"max_tokens":16', b'"max_tokens":' + b"9" * 40),
        orjson.dumps({**line("neg"), "body": {**line("neg")["body"], "max_tokens": -1}}),
        b"[" * 5000 + b"]" * 5000,
        orjson.dumps(line("\u009fc1")),
        orjson.dumps({**line("x"), "extra": True}),
        b'"just a string"',
        orjson.dumps(line("ok")),
    ]
    created = await upload(client, attacker, jsonl(hostile))
    assert created.status_code == 201, created.text
    assert created.json()["counts"]["total"] == 1 and created.json()["invalid_lines"] == 8
    for bad in (b"\xff\xfe not utf-8\n", b"\x00" * 2048):
        refused = await upload(client, attacker, bad)
        assert refused.status_code == 400 and refused.json()["invalid_lines"] == 1
    wrong_type = await client.post("/batches", headers={**attacker.headers, "Content-Type": "text/plain"}, content=b"x")
    assert wrong_type.status_code == 400
    bad_window = await upload(client, attacker, jsonl([line("w")]), completion_window="9999999d")
    assert bad_window.status_code == 400 and bad_window.json()["code"] == "invalid_request"
    bystander = await make_workspace(engine, tokens=1_000_000)
    answer = await client.post(
        "/chat/completions",
        headers=bystander.headers,
        json={"model": MODEL, "messages": [{"role": "user", "content": "still there?"}], "max_tokens": 16},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["answer"]
    await assert_books_balance(engine)


async def test_a_native_result_line_carries_tool_calls_and_choices_as_the_sync_answer_does(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    workspace = await make_workspace(engine, tokens=1_000_000)
    tools, several = rich_lines()
    created = await upload(client, workspace, jsonl([tools, several, line("plain")]))
    assert created.status_code == 201, created.text
    done = await wait_batch(client, workspace, created.json()["id"], finished, log=stack.ledger.log_tail)
    assert done["counts"]["completed"] == 3
    rows = {row["custom_id"]: row for row in await results(client, workspace, done["id"])}
    sync = (await client.post("/chat/completions", json=tools["body"], headers=workspace.headers)).json()
    assert rows["tools"]["tool_calls"][0]["function"]["name"] == sync["tool_calls"][0]["function"]["name"]
    assert set(rows["tools"]["choices"][0]) == set(sync["choices"][0])
    assert [choice["index"] for choice in rows["several"]["choices"]] == [0, 1]
    assert "choices" not in rows["plain"] and "tool_calls" not in rows["plain"]
