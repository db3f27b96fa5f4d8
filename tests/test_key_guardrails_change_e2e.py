"""One key's guardrails changed after it is minted (`/api/v1/keys/{id}/guardrails` and the admin equivalent), on
the real services: a change binds that key's very next request and no sibling's, removing them lets it pass
again, a key can never lift what its parent imposed nor loosen past its own, and hostile settings are refused
in the API's error shape and change nothing.

A blocked request is never charged (balances checked); every test ends with another workspace's request
completing and the books balanced.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import ADMIN_KEY, make_workspace
from tests.ledger_checks import assert_books_balance, balances

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
GRANT = 20_000
TICKETS = {"deny": [{"name": "tickets", "pattern": "ACME-[0-9]+"}]}
ERROR_SHAPE = {"error", "status", "code", "request_id"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def chat(content: str, *, model: str = "openai/gpt-4.1-mini") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": 32}


async def put_rules(client: httpx.AsyncClient, path: str, rules: Any, headers: dict[str, str]) -> httpx.Response:
    """PUT a body as JSON, `None` as a literal `null` (httpx would send no body at all for `json=None`)."""
    return await client.put(path, content=json.dumps(rules), headers={**headers, "Content-Type": "application/json"})


async def new_workspace(client: httpx.AsyncClient) -> tuple[str, str]:
    """A workspace and its owner key (every scope, no guardrails of its own)."""
    created = await client.post(
        "/admin/workspaces", json={"name": "key guardrails", "grant_tokens": GRANT}, headers=ADMIN
    )
    assert created.status_code == 201, created.text
    return created.json()["id"], created.json()["api_key"]


async def mint(client: httpx.AsyncClient, headers: dict[str, str], **attributes: Any) -> dict[str, Any]:
    minted = await client.post("/keys", json=attributes, headers=headers)
    assert minted.status_code == 201, minted.text
    body: dict[str, Any] = minted.json()
    return body


def assert_blocked(response: httpx.Response, rule: str, whose: str = "this key's") -> None:
    assert response.status_code == 400, response.text
    error = response.json()
    assert set(error) == ERROR_SHAPE and error["code"] == "guardrail_blocked"
    assert f"{whose} guardrail '{rule}'" in error["error"], error["error"]


def assert_restricted(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 403, response.text
    assert set(response.json()) == ERROR_SHAPE and response.json()["code"] == "key_restricted"
    assert reason in response.json()["error"], response.json()["error"]


async def assert_another_workspace_completes(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    other = await make_workspace(engine, tokens=5_000)
    answer = await client.post("/chat/completions", json=chat("close ACME-42, Falcon"), headers=other.headers)
    assert answer.status_code == 200, answer.text
    await assert_books_balance(engine)


async def test_guardrails_set_on_an_existing_key_bind_it_and_no_sibling_until_removed(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace, owner = await new_workspace(client)
    contractor = await mint(client, bearer(owner), name="contractor")
    sibling = await mint(client, bearer(owner), name="sibling")
    path = f"/keys/{contractor['id']}/guardrails"
    prompt = chat("please close ACME-42")
    spent = 0

    before = await client.get(path, headers=bearer(owner))
    assert before.status_code == 200, before.text
    assert before.json() == {
        "key_id": contractor["id"],
        "workspace_id": workspace,
        "guardrails": None,
        "imposed": None,
        "revision": before.json()["revision"],
    }
    passes = await client.post("/chat/completions", json=prompt, headers=bearer(contractor["key"]))
    assert passes.status_code == 200, passes.text
    spent += passes.json()["cost"]

    put = await client.put(path, json={**TICKETS, "allowed_models": ["gpt-4.1-mini"]}, headers=bearer(owner))
    assert put.status_code == 200, put.text
    stored = {**TICKETS, "allowed_models": ["openai/gpt-4.1-mini"]}  # the alias is stored as the model's id
    assert put.json()["guardrails"] == stored and put.json()["revision"] > before.json()["revision"]
    # The very next request of that key is blocked, and nothing is charged for it.
    assert_blocked(await client.post("/chat/completions", json=prompt, headers=bearer(contractor["key"])), "tickets")
    other_model = await client.post(
        "/chat/completions", json=chat("hi", model="test/cheap"), headers=bearer(contractor["key"])
    )
    assert_blocked(other_model, "allowed_models")
    assert (await balances(engine, workspace))["spent"] == spent
    # Its sibling and the owner key have no such rule: the same prompt passes for them.
    for other in (sibling["key"], owner):
        answer = await client.post("/chat/completions", json=prompt, headers=bearer(other))
        assert answer.status_code == 200, answer.text
        spent += answer.json()["cost"]
    assert (await balances(engine, workspace))["spent"] == spent

    assert (await client.get(path, headers=bearer(owner))).json()["guardrails"] == stored
    listed = {key["id"]: key["guardrails"] for key in (await client.get("/keys", headers=bearer(owner))).json()["data"]}
    assert listed.pop(contractor["id"]) == stored and set(listed.values()) == {None}
    admin_view = await client.get(f"/admin/keys/{contractor['id']}/guardrails", headers=ADMIN)
    assert admin_view.status_code == 200 and admin_view.json()["guardrails"] == stored, admin_view.text

    removed = await client.delete(path, headers=bearer(owner))
    assert removed.status_code == 200 and removed.json()["guardrails"] is None, removed.text
    passes = await client.post("/chat/completions", json=prompt, headers=bearer(contractor["key"]))
    assert passes.status_code == 200, passes.text
    spent += passes.json()["cost"]

    # A whole-set PUT of `null` or `{}` removes them too.
    for cleared in (None, {}):
        assert (await client.put(path, json=TICKETS, headers=bearer(owner))).status_code == 200
        assert_blocked(
            await client.post("/chat/completions", json=prompt, headers=bearer(contractor["key"])), "tickets"
        )
        put = await put_rules(client, path, cleared, bearer(owner))
        assert put.status_code == 200 and put.json()["guardrails"] is None, put.text
        answer = await client.post("/chat/completions", json=prompt, headers=bearer(contractor["key"]))
        assert answer.status_code == 200, answer.text
        spent += answer.json()["cost"]
    assert (await balances(engine, workspace))["spent"] == spent
    await assert_another_workspace_completes(client, engine)


async def test_a_key_cannot_lift_what_its_parent_imposed_nor_loosen_past_its_own(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace, owner = await new_workspace(client)
    rules = {
        "allowed_models": ["openai/gpt-4.1-mini", "test/cheap"],
        "max_prompt_chars": 100,
        "deny": [{"name": "codename", "keywords": ["Falcon"]}],
        "redact": ["email"],
        "check_output": True,
    }
    given = await client.post(
        f"/admin/workspaces/{workspace}/keys",
        json={"name": "team lead", "scopes": ["inference", "manage"], "guardrails": rules},
        headers=ADMIN,
    )
    assert given.status_code == 201, given.text
    lead = given.json()
    lead_path = f"/keys/{lead['id']}/guardrails"
    shown = (await client.get(lead_path, headers=bearer(owner))).json()
    assert shown["imposed"] == shown["guardrails"] == lead["guardrails"]

    # What the operator gave is imposed: not even the workspace's owner key lifts it; it may add to it.
    assert_restricted(await client.delete(lead_path, headers=bearer(owner)), "no guardrails, while its parent's")
    for looser, reason in [
        ({**rules, "max_prompt_chars": 1000}, "max_prompt_chars"),
        ({key: value for key, value in rules.items() if key != "max_prompt_chars"}, "max_prompt_chars"),
        ({**rules, "allowed_models": ["test/priced"]}, "allowed_models"),
        ({**rules, "check_output": False}, "check_output"),
        ({**rules, "deny": [{"name": "codename", "keywords": ["Eagle"]}]}, "'codename'"),
        ({**rules, "deny": []}, "no deny rule 'codename', which its parent's guardrails have"),
        ({**rules, "redact": []}, "no redaction of email"),
    ]:
        assert_restricted(await client.put(lead_path, json=looser, headers=bearer(owner)), reason)
    ssn = {"name": "ssn", "pattern": r"\d{3}-\d{2}-\d{4}"}
    added = await client.put(lead_path, json={**rules, "deny": [*rules["deny"], ssn]}, headers=bearer(owner))
    assert added.status_code == 200, added.text
    assert_blocked(await client.post("/chat/completions", json=chat("078-05-1120"), headers=bearer(lead["key"])), "ssn")
    # A key may add to its own guardrails, never lift them: the ssn rule it now has binds it too.
    assert_restricted(
        await client.put(lead_path, json=rules, headers=bearer(lead["key"])), "which the calling key's guardrails have"
    )

    # A key the lead mints inherits its guardrails as imposed; what the lead added on top may go again.
    child = await mint(
        client, bearer(lead["key"]), name="child", guardrails={"deny": [{"name": "pin", "pattern": "PIN-[0-9]{4}"}]}
    )
    child_path = f"/keys/{child['id']}/guardrails"
    child_view = (await client.get(child_path, headers=bearer(owner))).json()
    assert child_view["imposed"] == added.json()["guardrails"]
    assert [rule["name"] for rule in child_view["guardrails"]["deny"]] == ["codename", "ssn", "pin"]
    assert_blocked(await client.post("/chat/completions", json=chat("PIN-1234"), headers=bearer(child["key"])), "pin")
    assert_restricted(await client.delete(child_path, headers=bearer(owner)), "its parent's")
    dropped = await client.put(child_path, json=added.json()["guardrails"], headers=bearer(owner))
    assert dropped.status_code == 200, dropped.text
    answer = await client.post(
        "/chat/completions", json=chat("PIN-1234", model="test/cheap"), headers=bearer(child["key"])
    )
    assert answer.status_code == 200, answer.text

    # A key with guardrails cannot set a looser set on any key, a key with none included.
    assert_restricted(
        await client.put(f"/keys/{child['id']}/guardrails", json={}, headers=bearer(lead["key"])), "its parent's"
    )
    # A successor keeps what was imposed on the key it replaces, so a rotation lifts nothing.
    rotated = await client.post(f"/keys/{child['id']}/rotate", json={"grace_s": 0}, headers=bearer(owner))
    assert rotated.status_code == 201, rotated.text
    successor_path = f"/keys/{rotated.json()['id']}/guardrails"
    assert (await client.get(successor_path, headers=bearer(owner))).json()["imposed"] == child_view["imposed"]
    assert_restricted(await client.delete(successor_path, headers=bearer(owner)), "its parent's")
    expired = await client.put(child_path, json=child_view["imposed"], headers=bearer(owner))
    assert expired.status_code == 404 and set(expired.json()) == ERROR_SHAPE, expired.text
    sibling = await mint(client, bearer(owner), name="unguarded")
    assert_restricted(
        await client.put(f"/keys/{sibling['id']}/guardrails", json=TICKETS, headers=bearer(lead["key"])),
        "the calling key's guardrails",
    )

    # The operator is not limited by a key: what it sets becomes what is imposed.
    lifted = await client.delete(f"/admin/keys/{lead['id']}/guardrails", headers=ADMIN)
    assert lifted.status_code == 200 and lifted.json() | {"revision": 0} == {
        "key_id": lead["id"],
        "workspace_id": workspace,
        "guardrails": None,
        "imposed": None,
        "revision": 0,
    }, lifted.text
    passes = await client.post("/chat/completions", json=chat("Falcon 078-05-1120"), headers=bearer(lead["key"]))
    assert passes.status_code == 200, passes.text
    operator_set = await client.put(f"/admin/keys/{sibling['id']}/guardrails", json=TICKETS, headers=ADMIN)
    assert operator_set.status_code == 200 and operator_set.json()["imposed"] == TICKETS, operator_set.text
    assert_restricted(await client.delete(f"/keys/{sibling['id']}/guardrails", headers=bearer(owner)), "its parent's")
    assert_restricted(
        await client.put(f"/keys/{sibling['id']}/guardrails", json={"redact": ["email"]}, headers=bearer(owner)),
        "no deny rule 'tickets', which its parent's guardrails have",
    )

    # A revoked key's guardrails are shown, never changed.
    assert (await client.delete(f"/keys/{sibling['id']}", headers=bearer(owner))).status_code == 204
    assert (await client.get(f"/keys/{sibling['id']}/guardrails", headers=bearer(owner))).status_code == 200
    gone = await client.put(f"/keys/{sibling['id']}/guardrails", json=TICKETS, headers=bearer(owner))
    assert gone.status_code == 404 and set(gone.json()) == ERROR_SHAPE, gone.text
    await assert_another_workspace_completes(client, engine)


async def test_only_a_manage_key_reads_or_changes_them(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=GRANT)
    inference = await mint(client, workspace.headers, scopes=["inference", "billing"])
    path = f"/keys/{inference['id']}/guardrails"
    for method in ("GET", "PUT", "DELETE"):
        refused = await client.request(method, path, json=TICKETS, headers=bearer(inference["key"]))
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "insufficient_scope" and "'manage'" in refused.json()["error"]
        assert (await client.request(method, path, json=TICKETS, headers=ADMIN)).status_code == 401
        admin_route = await client.request(method, f"/admin{path}", json=TICKETS, headers=workspace.headers)
        assert admin_route.status_code == 403 and admin_route.json()["code"] == "admin_only", admin_route.text
    assert (await client.get(path, headers=workspace.headers)).json()["guardrails"] is None
    await assert_another_workspace_completes(client, engine)


HOSTILE: list[tuple[Any, int, str]] = [
    ({"deny": [{"name": "evil", "pattern": "(a+)+$"}]}, 400, "rule 'evil': nested unbounded quantifiers"),
    ({"deny": [{"name": "look", "pattern": "(?<=a)b"}]}, 400, "rule 'look': not a valid RE2 pattern"),
    ({"deny": [{"name": "open", "pattern": "([a-z"}]}, 400, "rule 'open': not a valid RE2 pattern"),
    ({"deny": [{"name": "nul", "pattern": "a\x00b"}]}, 400, "control characters"),
    ({"deny": [{"name": "esc", "pattern": "a\x1b[31mb"}]}, 400, "control characters"),
    ({"deny": [{"name": "nul", "keywords": ["bad\x00word"]}]}, 400, "control characters"),
    ({"deny": [{"name": "nul\x00name", "pattern": "x"}]}, 400, "name"),
    ({"deny": [{"name": f"r{i}", "pattern": "x"} for i in range(51)]}, 400, "at most 50"),
    ({"deny": [{"name": "many", "keywords": [f"w{i}" for i in range(201)]}]}, 400, "at most 200"),
    ({"deny": [{"name": "long", "pattern": "x" * 1001}]}, 400, "at most 1000"),
    ({"deny": [{"name": "huge", "pattern": "x{1000}{1000}"}]}, 400, "rule 'huge'"),
    ({"max_prompt_chars": 10**30}, 400, "max_prompt_chars"),
    ({"max_cost_tokens_per_request": -1}, 400, "max_cost_tokens_per_request"),
    ({"max_prompt_chars": True}, 400, "max_prompt_chars"),
    ({"allowed_models": ["nope/model"]}, 404, "nope/model"),
    ({"allowed_models": [f"m{i}" for i in range(101)]}, 400, "allowed_models"),
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
    key = await mint(client, workspace.headers, name="kept")
    path = f"/keys/{key['id']}/guardrails"
    kept = await client.put(path, json=TICKETS, headers=workspace.headers)
    assert kept.status_code == 200, kept.text

    for route, headers in ((path, workspace.headers), (f"/admin{path}", ADMIN)):
        refused = await client.put(route, json=body, headers=headers)
        assert refused.status_code == status, refused.text
        assert set(refused.json()) == ERROR_SHAPE and refused.json()["status"] == status
        assert expected in refused.json()["error"], refused.json()["error"]

    after = (await client.get(path, headers=workspace.headers)).json()
    assert after["guardrails"] == TICKETS and after["revision"] == kept.json()["revision"]
    assert_blocked(await client.post("/chat/completions", json=chat("ACME-7"), headers=bearer(key["key"])), "tickets")
    assert await balances(engine, workspace.id) == {"available": GRANT, "held": 0, "spent": 0, "funding": -GRANT}
    await assert_another_workspace_completes(client, engine)


async def test_hostile_key_ids_and_oversized_bodies_are_clean_errors(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=GRANT)
    for key_id in ("zzzzzzzzzzzz", "0" * 12, "%00", "a%00b", "x" * 65, "..%2F..%2Fadmin", "%E2%80%AE1234"):
        for route, headers in (
            (f"/keys/{key_id}/guardrails", workspace.headers),
            (f"/admin/keys/{key_id}/guardrails", ADMIN),
        ):
            for method in ("GET", "PUT", "DELETE"):
                response = await client.request(method, route, json=TICKETS, headers=headers)
                assert response.status_code in (400, 404), (method, route, response.text)
                assert set(response.json()) == ERROR_SHAPE, (method, route, response.text)

    # The most a set may hold (50 rules of 200 keywords) is accepted and checked; past the body limit is a 413.
    key = await mint(client, workspace.headers, name="huge")
    path = f"/keys/{key['id']}/guardrails"
    huge = {"deny": [{"name": f"list{r}", "keywords": [f"forbidden{r}x{k}" for k in range(200)]} for r in range(50)]}
    assert (await client.put(path, json=huge, headers=workspace.headers)).status_code == 200
    hit = await client.post("/chat/completions", json=chat("a FORBIDDEN49X199 b"), headers=bearer(key["key"]))
    assert_blocked(hit, "list49")
    oversized = {"deny": [{"name": "r", "keywords": ["z" * 100] * 11_000}]}
    too_big = await client.put(path, json=oversized, headers=workspace.headers)
    assert too_big.status_code == 413 and set(too_big.json()) == ERROR_SHAPE, too_big.text
    assert (await client.get(path, headers=workspace.headers)).json()["guardrails"] == huge
    await assert_another_workspace_completes(client, engine)
