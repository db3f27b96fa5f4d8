"""`GET`/`PUT /api/v1/guardrails`: a workspace's own `manage` key reads and sets its guardrails, on the real
services. A change applies to the very next request; hostile settings are refused cleanly, change nothing, and
leave every other workspace served.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import ADMIN_KEY, Workspace, make_workspace
from tests.ledger_checks import assert_books_balance, balances

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
GRANT = 10_000


async def put_rules(client: httpx.AsyncClient, rules: Any, headers: dict[str, str]) -> httpx.Response:
    """PUT a body as JSON, `None` as a literal `null` (httpx would send no body at all for `json=None`)."""
    return await client.put(
        "/guardrails", content=json.dumps(rules), headers={**headers, "Content-Type": "application/json"}
    )


def chat(content: str, *, model: str = "openai/gpt-4.1-mini") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": 32}


async def assert_another_workspace_completes(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    other = await make_workspace(engine, tokens=5_000)
    answer = await client.post("/chat/completions", json=chat("Project Falcon, 078-05-1120"), headers=other.headers)
    assert answer.status_code == 200, answer.text
    await assert_books_balance(engine)


async def test_a_manage_key_sets_rules_that_apply_to_the_very_next_request(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=GRANT)
    shown = await client.get("/guardrails", headers=workspace.headers)
    assert shown.status_code == 200, shown.text
    assert shown.json() == {"workspace_id": workspace.id, "guardrails": None, "revision": shown.json()["revision"]}

    rules = {
        "allowed_models": ["gpt-4.1-mini"],
        "deny": [{"name": "codename", "keywords": ["Project Falcon"]}],
        "redact": ["email"],
    }
    put = await client.put("/guardrails", json=rules, headers=workspace.headers)
    assert put.status_code == 200, put.text
    stored = {**rules, "allowed_models": ["openai/gpt-4.1-mini"]}  # the alias is stored as the model's id
    assert put.json()["guardrails"] == stored and put.json()["revision"] > shown.json()["revision"]

    blocked = await client.post("/chat/completions", json=chat("Project Falcon status"), headers=workspace.headers)
    assert blocked.status_code == 400 and blocked.json()["code"] == "guardrail_blocked", blocked.text
    assert "the workspace's guardrail 'codename'" in blocked.json()["error"]
    other_model = await client.post("/chat/completions", json=chat("hi", model="test/cheap"), headers=workspace.headers)
    assert other_model.status_code == 400 and "'allowed_models'" in other_model.json()["error"]
    assert (await balances(engine, workspace.id))["spent"] == 0

    # The operator sees what the workspace set: the one workspace state, changed through the one path.
    assert (await client.get(f"/admin/workspaces/{workspace.id}", headers=ADMIN)).json()["guardrails"] == stored
    assert (await client.get("/guardrails", headers=workspace.headers)).json()["guardrails"] == stored

    for cleared in (None, {}):
        put = await put_rules(client, cleared, workspace.headers)
        assert put.status_code == 200 and put.json()["guardrails"] is None, put.text
        passes = await client.post("/chat/completions", json=chat("Project Falcon"), headers=workspace.headers)
        assert passes.status_code == 200, passes.text
        assert (await balances(engine, workspace.id))["spent"] > 0
        await client.put("/guardrails", json=rules, headers=workspace.headers)
    await assert_another_workspace_completes(client, engine)


async def test_only_a_manage_key_reads_or_sets_them(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=GRANT)
    minted = await client.post("/keys", json={"scopes": ["inference", "billing"]}, headers=workspace.headers)
    inference = {"Authorization": f"Bearer {minted.json()['key']}"}
    for method in ("GET", "PUT"):
        refused = await client.request(method, "/guardrails", json={}, headers=inference)
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "insufficient_scope" and "'manage'" in refused.json()["error"]
    assert (await client.put("/guardrails", json={}, headers=ADMIN)).status_code == 401
    assert (await client.get("/guardrails")).status_code == 401
    await assert_another_workspace_completes(client, engine)


HOSTILE: list[tuple[Any, int, str]] = [
    ({"deny": [{"name": "evil", "pattern": "(a+)+$"}]}, 400, "rule 'evil': nested unbounded quantifiers"),
    ({"deny": [{"name": "look", "pattern": "(?<=a)b"}]}, 400, "rule 'look': not a valid RE2 pattern"),
    ({"deny": [{"name": "nul", "keywords": ["bad\x00word"]}]}, 400, "control characters"),
    ({"deny": [{"name": "nul\x00name", "pattern": "x"}]}, 400, "name"),
    ({"deny": [{"name": "nul", "pattern": "a\x00b"}]}, 400, "control characters"),
    ({"deny": [{"name": f"r{i}", "pattern": "x"} for i in range(51)]}, 400, "at most 50"),
    ({"deny": [{"name": "many", "keywords": [f"w{i}" for i in range(201)]}]}, 400, "at most 200"),
    ({"deny": [{"name": "long", "pattern": "x" * 1001}]}, 400, "at most 1000"),
    ({"allowed_models": ["nope/model"]}, 404, "nope/model"),
    ({"max_prompt_chars": True}, 400, "max_prompt_chars"),
    ({"redact": ["passport"]}, 400, "redact"),
    ({"surprise": 1}, 400, "surprise"),
    ([{"deny": []}], 400, "body"),
    ("x" * 100, 400, "body"),
]


@pytest.mark.parametrize(("body", "status", "expected"), HOSTILE)
async def test_hostile_settings_are_refused_cleanly_and_change_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, body: Any, status: int, expected: str
) -> None:
    workspace = await make_workspace(engine, tokens=GRANT)
    kept = {"deny": [{"name": "codename", "keywords": ["Project Falcon"]}]}
    assert (await client.put("/guardrails", json=kept, headers=workspace.headers)).status_code == 200

    refused = await client.put("/guardrails", json=body, headers=workspace.headers)
    assert refused.status_code == status, refused.text
    assert set(refused.json()) == {"error", "status", "code", "request_id"}
    assert expected in refused.json()["error"], refused.json()["error"]
    # The same settings on a key are refused the same way when it is minted.
    minted = await client.post("/keys", json={"guardrails": body}, headers=workspace.headers)
    assert minted.status_code == status, minted.text

    assert (await client.get("/guardrails", headers=workspace.headers)).json()["guardrails"] == kept
    blocked = await client.post("/chat/completions", json=chat("Project Falcon"), headers=workspace.headers)
    assert blocked.status_code == 400 and blocked.json()["code"] == "guardrail_blocked"
    assert await balances(engine, workspace.id) == {"available": GRANT, "held": 0, "spent": 0, "funding": -GRANT}
    await assert_another_workspace_completes(client, engine)


async def test_huge_but_valid_rule_sets_check_every_request_and_oversized_bodies_are_refused(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    # The most a set may hold: 50 rules of 200 keywords each (about 120 kB), on the workspace and on a key.
    huge = {"deny": [{"name": f"list{r}", "keywords": [f"forbidden{r}x{k}" for k in range(200)]} for r in range(50)]}
    put = await client.put("/guardrails", json=huge, headers=workspace.headers)
    assert put.status_code == 200, put.text
    key = await client.post("/keys", json={"guardrails": huge}, headers=workspace.headers)
    assert key.status_code == 201, key.text
    key_headers = {"Authorization": f"Bearer {key.json()['key']}"}

    prompt = "a harmless prompt " * 2_000
    assert (await client.post("/chat/completions", json=chat(prompt), headers=key_headers)).status_code == 200
    hit = await client.post("/chat/completions", json=chat(prompt + " FORBIDDEN49X199"), headers=key_headers)
    assert hit.status_code == 400 and "the workspace's guardrail 'list49'" in hit.json()["error"], hit.text

    assert (await put_rules(client, None, workspace.headers)).json()["guardrails"] is None

    oversized = {"deny": [{"name": "r", "keywords": ["z" * 100] * 11_000}]}
    too_big = await client.put("/guardrails", json=oversized, headers=workspace.headers)
    assert too_big.status_code == 413 and set(too_big.json()) == {"error", "status", "code", "request_id"}
    await assert_another_workspace_completes(client, engine)


async def test_a_rotated_out_key_cannot_change_them(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace: Workspace = await make_workspace(engine, tokens=GRANT)
    rotated = await client.post(f"/keys/{workspace.key_id}/rotate", json={"grace_s": 600}, headers=workspace.headers)
    assert rotated.status_code == 201, rotated.text
    refused = await client.put("/guardrails", json={}, headers=workspace.headers)
    assert refused.status_code == 403 and refused.json()["code"] == "key_restricted", refused.text
    successor = {"Authorization": f"Bearer {rotated.json()['key']}"}
    assert (await client.get("/guardrails", headers=successor)).status_code == 200
    await assert_another_workspace_completes(client, engine)
