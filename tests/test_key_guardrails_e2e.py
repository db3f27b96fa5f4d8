"""Guardrails of one key, on the real services: they bind that key and no sibling, apply together with the
workspace's, are inherited by every key it mints or rotates into, and can never be loosened by a key.

A blocked request is never charged (balances checked); every test ends with another workspace's request
completing and the books balanced.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import ADMIN_KEY, make_workspace
from tests.ledger_checks import assert_books_balance, balances

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
GRANT = 20_000
UNTOUCHED = {"available": GRANT, "held": 0, "spent": 0, "funding": -GRANT}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def chat(content: str, *, model: str = "openai/gpt-4.1-mini") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": 32}


async def new_workspace(client: httpx.AsyncClient, guardrails: dict[str, Any] | None = None) -> tuple[str, str]:
    """A workspace (with guardrails of its own if given) and its owner key, which has none."""
    body: dict[str, Any] = {"name": "key guardrails", "grant_tokens": GRANT}
    if guardrails is not None:
        body["guardrails"] = guardrails
    created = await client.post("/admin/workspaces", json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    return created.json()["id"], created.json()["api_key"]


async def admin_key(client: httpx.AsyncClient, workspace: str, **attributes: Any) -> dict[str, Any]:
    minted = await client.post(f"/admin/workspaces/{workspace}/keys", json=attributes, headers=ADMIN)
    assert minted.status_code == 201, minted.text
    body: dict[str, Any] = minted.json()
    return body


def assert_blocked(response: httpx.Response, rule: str, whose: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()
    assert set(error) == {"error", "status", "code", "request_id"}
    assert error["code"] == "guardrail_blocked" and error["status"] == 400
    assert f"{whose} guardrail '{rule}'" in error["error"], error["error"]


async def assert_another_workspace_completes(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    other = await make_workspace(engine, tokens=5_000)
    answer = await client.post("/chat/completions", json=chat("Falcon 078-05-1120"), headers=other.headers)
    assert answer.status_code == 200, answer.text
    await assert_books_balance(engine)


async def test_a_keys_deny_rule_blocks_it_and_not_its_sibling(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace, owner = await new_workspace(client)
    guarded = await admin_key(
        client, workspace, name="contractor", guardrails={"deny": [{"name": "codename", "keywords": ["Falcon"]}]}
    )
    assert guarded["guardrails"] == {"deny": [{"name": "codename", "keywords": ["Falcon"]}]}

    blocked = await client.post("/chat/completions", json=chat("status of falcon?"), headers=bearer(guarded["key"]))
    assert_blocked(blocked, "codename", "this key's")
    assert await balances(engine, workspace) == UNTOUCHED

    sibling = await client.post("/chat/completions", json=chat("status of falcon?"), headers=bearer(owner))
    assert sibling.status_code == 200, sibling.text
    assert (await balances(engine, workspace))["spent"] == sibling.json()["cost"]

    listed = {key["id"]: key for key in (await client.get("/keys", headers=bearer(owner))).json()["data"]}
    assert listed[guarded["id"]]["guardrails"] == guarded["guardrails"]
    assert all(key["guardrails"] is None for key_id, key in listed.items() if key_id != guarded["id"])
    admin_listed = (await client.get(f"/admin/workspaces/{workspace}/keys", headers=ADMIN)).json()["data"]
    assert {key["id"]: key["guardrails"] for key in admin_listed}[guarded["id"]] == guarded["guardrails"]
    await assert_another_workspace_completes(client, engine)


async def test_the_workspaces_and_the_keys_guardrails_both_apply(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace, owner = await new_workspace(
        client,
        {
            "allowed_models": ["openai/gpt-4.1-mini", "test/cheap"],
            "deny": [{"name": "codename", "keywords": ["Falcon"]}],
            "redact": ["email"],
        },
    )
    key = await admin_key(
        client,
        workspace,
        guardrails={
            "allowed_models": ["test/cheap", "test/priced"],
            "max_prompt_chars": 60,
            "deny": [{"name": "ssn", "pattern": r"\d{3}-\d{2}-\d{4}"}],
            "redact": ["card"],
        },
    )
    headers = bearer(key["key"])
    cheap = "test/cheap"
    assert_blocked(
        await client.post("/chat/completions", json=chat("Falcon?", model=cheap), headers=headers),
        "codename",
        "the workspace's",
    )
    assert_blocked(
        await client.post("/chat/completions", json=chat("078-05-1120", model=cheap), headers=headers),
        "ssn",
        "this key's",
    )
    assert_blocked(
        await client.post("/chat/completions", json=chat("x" * 61, model=cheap), headers=headers),
        "max_prompt_chars",
        "this key's",
    )
    # Allowed models intersect: the workspace's own model is not the key's, the key's other is not the workspace's.
    assert_blocked(
        await client.post("/chat/completions", json=chat("hi"), headers=headers), "allowed_models", "this key's"
    )
    assert_blocked(
        await client.post("/chat/completions", json=chat("hi", model="test/priced"), headers=headers),
        "allowed_models",
        "the workspace's",
    )
    assert await balances(engine, workspace) == UNTOUCHED

    answer = await client.post(
        "/chat/completions", json=chat("mail a@example.com card 4111 1111 1111 1111", model=cheap), headers=headers
    )
    assert answer.status_code == 200, answer.text
    job = (await client.get(f"/jobs/{answer.json()['id']}", headers=headers)).json()
    assert job["guardrails"] == {"redacted": {"card": 1, "email": 1}}
    assert (await balances(engine, workspace))["spent"] == answer.json()["cost"]

    # The owner key has no guardrails of its own: only the workspace's bind it.
    plain = await client.post("/chat/completions", json=chat("078-05-1120"), headers=bearer(owner))
    assert plain.status_code == 200, plain.text
    await assert_another_workspace_completes(client, engine)


async def test_redaction_of_one_key_is_recorded_on_its_jobs_and_billed_as_sent(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace, owner = await new_workspace(client)
    key = await admin_key(client, workspace, guardrails={"redact": ["email", "phone"]})
    prompt = "write to jane.doe@example.com or call +1 415-555-0132"

    redacted = await client.post("/chat/completions", json=chat(prompt), headers=bearer(key["key"]))
    assert redacted.status_code == 200, redacted.text
    # The fake provider echoes the prompt it was sent: the redacted one.
    assert "jane.doe" not in redacted.json()["answer"] and "[REDACTED:phone]" in redacted.json()["answer"]
    job = (await client.get(f"/jobs/{redacted.json()['id']}", headers=bearer(key["key"]))).json()
    assert job["guardrails"] == {"redacted": {"email": 1, "phone": 1}}

    sibling = await client.post("/chat/completions", json=chat(prompt), headers=bearer(owner))
    assert "jane.doe@example.com" in sibling.json()["answer"]
    assert (await client.get(f"/jobs/{sibling.json()['id']}", headers=bearer(owner))).json().get("guardrails") is None

    sent = await client.post(
        "/chat/completions", json=chat("write to [REDACTED:email] or call [REDACTED:phone]"), headers=bearer(owner)
    )
    assert sent.json()["usage"] == redacted.json()["usage"] and sent.json()["cost"] == redacted.json()["cost"]
    spent = sum(answer.json()["cost"] for answer in (redacted, sibling, sent))
    assert (await balances(engine, workspace))["spent"] == spent
    await assert_another_workspace_completes(client, engine)


async def test_a_key_cannot_loosen_the_guardrails_it_inherits(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace, _ = await new_workspace(client)
    rules = {
        "allowed_models": ["openai/gpt-4.1-mini", "test/cheap"],
        "max_prompt_chars": 100,
        "deny": [{"name": "codename", "keywords": ["Falcon"]}],
        "redact": ["email"],
        "check_output": True,
    }
    parent = await admin_key(client, workspace, scopes=["inference", "manage"], guardrails=rules)
    headers = bearer(parent["key"])
    for looser, reason in [
        ({"max_prompt_chars": 1000}, "max_prompt_chars"),
        ({"max_prompt_chars": None}, "max_prompt_chars"),
        ({"allowed_models": ["test/priced"]}, "allowed_models"),
        ({"check_output": False}, "check_output"),
        ({"deny": [{"name": "codename", "keywords": ["Eagle"]}]}, "'codename'"),
    ]:
        refused = await client.post("/keys", json={"guardrails": looser}, headers=headers)
        assert refused.status_code == 403, (looser, refused.text)
        assert refused.json()["code"] == "key_restricted" and reason in refused.json()["error"]

    # Not naming them inherits them; naming more adds to them.
    inherited = (await client.post("/keys", json={"name": "inherits"}, headers=headers)).json()
    assert inherited["guardrails"] == parent["guardrails"]
    extra = {"deny": [{"name": "ssn", "pattern": r"\d{3}-\d{2}-\d{4}"}], "max_prompt_chars": 50, "redact": ["card"]}
    child = await client.post("/keys", json={"name": "adds", "guardrails": extra}, headers=headers)
    assert child.status_code == 201, child.text
    added = child.json()["guardrails"]
    assert [rule["name"] for rule in added["deny"]] == ["codename", "ssn"]
    assert (added["max_prompt_chars"], added["redact"], added["check_output"]) == (50, ["email", "card"], True)
    child_headers = bearer(child.json()["key"])
    assert_blocked(
        await client.post("/chat/completions", json=chat("Falcon"), headers=child_headers), "codename", "this key's"
    )
    assert_blocked(
        await client.post("/chat/completions", json=chat("078-05-1120"), headers=child_headers), "ssn", "this key's"
    )

    # A rotation's successor inherits the rotated key's guardrails; a key cannot rotate one looser than itself.
    rotated = await client.post(f"/keys/{child.json()['id']}/rotate", json={"grace_s": 0}, headers=headers)
    assert rotated.status_code == 201, rotated.text
    assert rotated.json()["guardrails"] == added
    unguarded = await admin_key(client, workspace, name="unguarded")
    escape = await client.post(f"/keys/{unguarded['id']}/rotate", json={"grace_s": 0}, headers=headers)
    assert escape.status_code == 403 and escape.json()["code"] == "key_restricted", escape.text

    # More rules than one set may hold, inherited ones included, is a plain 400.
    many = {"deny": [{"name": f"r{i}", "pattern": "x{3}"} for i in range(50)]}
    too_many = await client.post("/keys", json={"guardrails": many}, headers=headers)
    assert too_many.status_code == 400 and too_many.json()["code"] == "invalid_request", too_many.text
    assert await balances(engine, workspace) == UNTOUCHED
    await assert_another_workspace_completes(client, engine)
