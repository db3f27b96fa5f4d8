"""Every boolean a caller sets outside the chat routes is a JSON boolean, as on the chat routes: guardrails,
webhook endpoints, the auto top-up and a JSON batch refuse "yes", "true", 1 and the like with a 400 naming the
field, and store nothing (a lax `"false"` read as true would arm an auto top-up or a webhook the caller meant off).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Workspace, make_workspace

NOT_BOOLEANS = ["yes", "true", "false", 1, 0, 1.0, [], {}]
HELLO = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}
HOOK_URL = "http://127.0.0.1:9/hooks"
LINE = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": HELLO}


def _guardrails(field: str) -> Callable[[object], dict[str, Any]]:
    if field == "check_output":
        return lambda value: {"check_output": value}
    return lambda value: {"deny": [{"name": "codename", "keywords": ["Falcon"], "case_sensitive": value}]}


# (method, path, the body with the value placed, the field the 400 names)
CASES: list[tuple[str, str, Callable[[object], dict[str, Any]], str]] = [
    ("PUT", "/guardrails", _guardrails("check_output"), "check_output"),
    ("PUT", "/guardrails", _guardrails("case_sensitive"), "deny.0.case_sensitive"),
    (
        "POST",
        "/webhooks",
        lambda value: {"url": HOOK_URL, "event_types": ["job.completed"], "enabled": value},
        "enabled",
    ),
    (
        "PUT",
        "/billing/auto-topup",
        lambda value: {"threshold_tokens": 5_000, "amount_bdt": "10", "enabled": value},
        "enabled",
    ),
    ("POST", "/batches", lambda value: {"requests": [LINE], "all_or_nothing": value}, "all_or_nothing"),
]


async def _stored(client: httpx.AsyncClient, workspace: Workspace) -> dict[str, Any]:
    """What the refused writes could have changed, as the caller reads it."""
    guardrails = (await client.get("/guardrails", headers=workspace.headers)).json()["guardrails"]
    webhooks = (await client.get("/webhooks", headers=workspace.headers)).json()["data"]
    auto_topup = (await client.get("/balance", headers=workspace.headers)).json()["auto_topup"]
    batches = (await client.get("/batches", headers=workspace.headers)).json()["data"]
    return {"guardrails": guardrails, "webhooks": webhooks, "auto_topup": auto_topup, "batches": batches}


@pytest.mark.parametrize("value", NOT_BOOLEANS, ids=repr)
async def test_booleans_outside_the_chat_routes_are_json_booleans(
    client: httpx.AsyncClient, engine: AsyncEngine, value: object
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    before = await _stored(client, workspace)
    for method, path, placed, field in CASES:
        response = await client.request(method, path, json=placed(value), headers=workspace.headers)
        assert response.status_code == 400, (path, field, response.text)
        body = response.json()
        assert body["code"] == "invalid_request" and field in body["error"], (field, body)
        assert "valid boolean" in body["error"], body
    assert await _stored(client, workspace) == before, "a refused write stored something"

    other = await make_workspace(engine, tokens=10_000)
    assert (await client.post("/chat/completions", json=HELLO, headers=other.headers)).status_code == 200


async def test_a_webhook_update_takes_only_a_json_boolean(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    created = await client.post(
        "/webhooks",
        json={"url": HOOK_URL, "event_types": ["job.completed"], "enabled": False},
        headers=workspace.headers,
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()["id"]
    for value in NOT_BOOLEANS:
        response = await client.patch(f"/webhooks/{endpoint}", json={"enabled": value}, headers=workspace.headers)
        assert response.status_code == 400, (value, response.text)
        assert "enabled" in response.json()["error"] and "valid boolean" in response.json()["error"]
    [shown] = (await client.get("/webhooks", headers=workspace.headers)).json()["data"]
    assert shown["enabled"] is False, "the endpoint the caller kept off was switched on"
    enabled = await client.patch(f"/webhooks/{endpoint}", json={"enabled": True}, headers=workspace.headers)
    assert enabled.status_code == 200 and enabled.json()["enabled"] is True, enabled.text
