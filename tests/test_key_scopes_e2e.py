"""Key scopes, key attributes, and that no key can ever widen its own power."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ingress.keys import fingerprint
from tests.conftest import ADMIN_KEY, KEY_MINTS_PER_HOUR_MAX, Stack, Workspace, make_workspace

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
HELLO = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def admin_key(client: httpx.AsyncClient, workspace_id: str, **attributes: object) -> dict[str, object]:
    minted = await client.post(f"/admin/workspaces/{workspace_id}/keys", json=attributes, headers=ADMIN)
    assert minted.status_code == 201, minted.text
    body: dict[str, object] = minted.json()
    return body


async def still_served(client: httpx.AsyncClient, bystander: Workspace) -> None:
    """Another workspace's request completes: nothing above disturbed anyone else."""
    answer = await client.post("/chat/completions", json=HELLO, headers=bystander.headers)
    assert answer.status_code == 200, answer.text


@pytest.fixture
async def bystander(engine: AsyncEngine) -> Workspace:
    return await make_workspace(engine, tokens=10_000)


async def test_each_scope_opens_only_its_own_endpoints(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    inference = str((await client.post("/keys", json={"name": "app"}, headers=workspace.headers)).json()["key"])
    billing = str((await admin_key(client, workspace.id, scopes=["billing"]))["key"])

    assert (await client.post("/chat/completions", json=HELLO, headers=bearer(inference))).status_code == 200
    assert (await client.get("/models", headers=bearer(inference))).status_code == 200
    assert (await client.get("/balance", headers=bearer(inference))).status_code == 200
    for method, path in [("GET", "/keys"), ("POST", "/keys"), ("DELETE", f"/keys/{workspace.key_id}")]:
        refused = await client.request(method, path, json={}, headers=bearer(inference))
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "insufficient_scope" and "'manage'" in refused.json()["error"]
    usage = await client.get("/usage", headers=bearer(inference))
    assert usage.status_code == 403 and "'billing'" in usage.json()["error"]

    assert (await client.get("/usage", headers=bearer(billing))).status_code == 200
    assert (await client.get("/balance", headers=bearer(billing))).status_code == 200
    call = await client.post("/chat/completions", json=HELLO, headers=bearer(billing))
    assert call.status_code == 403 and "'inference'" in call.json()["error"]


async def test_a_key_cannot_mint_more_power_than_its_own(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=1_000)
    parent = await admin_key(
        client,
        workspace.id,
        scopes=["inference", "manage"],
        expires_in_s=3_600,
        allowed_models=["test/cheap", "openai/gpt-4.1-mini"],
        rpm_max=10,
        max_tokens_max=100,
    )
    headers = bearer(str(parent["key"]))
    for attributes, reason in [
        ({"scopes": ["inference", "billing"]}, "scopes"),
        ({"expires_in_s": 7_200}, "expiry"),
        ({"rpm_max": 11}, "rpm_max"),
        ({"max_tokens_max": 101}, "max_tokens_max"),
        ({"allowed_models": ["test/priced"]}, "models"),
    ]:
        refused = await client.post("/keys", json=attributes, headers=headers)
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "key_restricted" and reason in refused.json()["error"]

    # What is not named is inherited from the minting key, so a child can never outlive or outrun it.
    child = (await client.post("/keys", json={"rpm_max": 5}, headers=headers)).json()
    assert child["scopes"] == ["inference"] and child["rpm_max"] == 5 and child["max_tokens_max"] == 100
    assert child["expires_at"] == parent["expires_at"]
    assert child["allowed_models"] == ["openai/gpt-4.1-mini", "test/cheap"]

    # Nor can it rotate a broader key into existence: the successor would have the owner key's scopes.
    rotated = await client.post(f"/keys/{workspace.key_id}/rotate", json={}, headers=headers)
    assert rotated.status_code == 403 and rotated.json()["code"] == "key_restricted"
    # Narrowed to within the rotating key's own power on every count, the rotation goes through.
    within = {"scopes": ["inference"], "rpm_max": 1, "expires_in_s": 600, "allowed_models": ["test/cheap"]}
    assert (await client.post(f"/keys/{workspace.key_id}/rotate", json=within, headers=headers)).status_code == 403
    narrowed = await client.post(
        f"/keys/{workspace.key_id}/rotate", json={**within, "max_tokens_max": 100}, headers=headers
    )
    assert narrowed.status_code == 201, narrowed.text
    assert narrowed.json()["rpm_max"] == 1 and narrowed.json()["allowed_models"] == ["test/cheap"]


async def test_a_rotated_out_key_manages_nothing_and_cannot_revoke_its_successor(
    client: httpx.AsyncClient, engine: AsyncEngine, bystander: Workspace
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    successor = (
        await client.post(f"/keys/{workspace.key_id}/rotate", json={"grace_s": 600}, headers=workspace.headers)
    ).json()
    assert successor["key"].startswith("lx_live_") and successor["scopes"] == ["billing", "inference", "manage"]

    # Within its grace window the old key still calls models, but manages nothing.
    assert (await client.post("/chat/completions", json=HELLO, headers=workspace.headers)).status_code == 200
    for method, path in [
        ("DELETE", f"/keys/{successor['id']}"),
        ("POST", "/keys"),
        ("POST", f"/keys/{successor['id']}/rotate"),
        ("GET", "/keys"),
    ]:
        refused = await client.request(method, path, json={}, headers=workspace.headers)
        assert refused.status_code == 403 and refused.json()["code"] == "key_restricted", refused.text
    assert (await client.post("/chat/completions", json=HELLO, headers=bearer(successor["key"]))).status_code == 200

    again = await client.post(f"/keys/{workspace.key_id}/rotate", json={}, headers=bearer(successor["key"]))
    assert again.status_code == 409 and again.json()["code"] == "key_already_rotated"
    await still_served(client, bystander)


async def test_expired_revoked_malformed_and_look_alike_keys_are_401(
    client: httpx.AsyncClient, engine: AsyncEngine, bystander: Workspace
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    short = (await client.post("/keys", json={"expires_in_s": 1}, headers=workspace.headers)).json()
    revoked = (await client.post("/keys", json={}, headers=workspace.headers)).json()
    assert (await client.delete(f"/keys/{revoked['id']}", headers=workspace.headers)).status_code == 204
    await asyncio.sleep(1.2)
    key_id = str(short["id"])
    candidates = [
        short["key"],
        revoked["key"],
        f"lx_live_{key_id}_{secrets.token_urlsafe(32)}",  # the right prefix and id, a wrong secret
        f"lx_{workspace.key_id}_{secrets.token_urlsafe(32)}",
        f"lx_live_{key_id}",
        f"lx_live_{key_id}_",
        "lx_live_",
        "lx_live_ZZZZZZZZZZZZ_abc",
        "lx_live_" + "a" * 300,
    ]
    for candidate in candidates:
        for method, path in [("POST", "/chat/completions"), ("GET", "/keys"), ("GET", "/models")]:
            response = await client.request(method, path, json=HELLO, headers=bearer(candidate))
            assert response.status_code == 401, (candidate, response.text)
            assert response.json()["code"] == "invalid_api_key"
    await still_served(client, bystander)


async def test_keys_in_the_older_format_keep_working(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    key_id = secrets.token_hex(6)
    legacy = f"lx_{key_id}_{secrets.token_urlsafe(32)}"
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO api_keys (id, workspace_id, name, secret_sha256, last4) "
                "VALUES (:id, :ws, 'old', :sha, :l4)"
            ),
            {"id": key_id, "ws": workspace.id, "sha": fingerprint(legacy), "l4": legacy[-4:]},
        )
    assert (await client.post("/chat/completions", json=HELLO, headers=bearer(legacy))).status_code == 200


async def test_a_keys_models_and_max_tokens_are_enforced_at_the_door(
    client: httpx.AsyncClient, engine: AsyncEngine, bystander: Workspace
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    limited = (
        await client.post(
            "/keys", json={"allowed_models": ["test/cheap"], "max_tokens_max": 10}, headers=workspace.headers
        )
    ).json()
    headers = bearer(limited["key"])
    other_model = await client.post("/chat/completions", json={**HELLO, "model": "test/priced"}, headers=headers)
    assert other_model.status_code == 403 and other_model.json()["code"] == "key_restricted"
    assert "test/priced" in other_model.json()["error"]
    too_long = await client.post(
        "/chat/completions", json={**HELLO, "model": "test/cheap", "max_tokens": 11}, headers=headers
    )
    assert too_long.status_code == 403 and "limit of 10" in too_long.json()["error"]
    fits = await client.post(
        "/chat/completions", json={**HELLO, "model": "test/cheap", "max_tokens": 10}, headers=headers
    )
    assert fits.status_code == 200, fits.text
    unnamed = await client.post(
        "/chat/completions", json={"model": "test/cheap", "messages": HELLO["messages"]}, headers=headers
    )
    assert unnamed.status_code == 200 and unnamed.json()["usage"]["output_tokens"] <= 10
    await still_served(client, bystander)


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 101},
        {"name": "nul\x00"},
        {"name": "escape\x1b[31m"},
        {"name": "newline\nlabel"},
        {"name": "bidi\u202elabel"},
        {"rpm_max": 0},
        {"tpm_max": -1},
        {"daily_spend_max_tokens": 0},
        {"monthly_spend_max_tokens": -10},
        {"max_tokens_max": 0},
        {"rpm_max": 10**12},
        {"rpm_max": True},
        {"rpm_max": 1.5},
        {"expires_in_s": 0},
        {"expires_in_s": 10**12},
        {"scopes": []},
        {"scopes": ["root"]},
        {"scopes": ["inference", "inference"]},
        {"allowed_models": []},
        {"allowed_models": ["no/such-model"]},
        {"admin": True},
    ],
)
async def test_bad_key_attributes_are_400(
    client: httpx.AsyncClient, engine: AsyncEngine, bystander: Workspace, body: dict[str, object]
) -> None:
    workspace = await make_workspace(engine, tokens=0)
    response = await client.post("/keys", json=body, headers=workspace.headers)
    assert response.status_code == 400, (body, response.text)
    assert response.json()["code"] == "invalid_request" and response.json()["status"] == 400
    await still_served(client, bystander)


async def test_key_creation_is_rate_limited_exactly_per_workspace(
    client: httpx.AsyncClient, engine: AsyncEngine, bystander: Workspace
) -> None:
    workspace = await make_workspace(engine, tokens=0)  # its own key is the first mint of the hour
    attempts = await asyncio.gather(
        *[client.post("/keys", json={}, headers=workspace.headers) for _ in range(KEY_MINTS_PER_HOUR_MAX + 8)]
    )
    statuses = sorted(response.status_code for response in attempts)
    assert statuses.count(201) == KEY_MINTS_PER_HOUR_MAX - 1
    refused = [response for response in attempts if response.status_code != 201]
    assert {r.status_code for r in refused} == {429}
    assert refused[0].json()["code"] == "key_mints_exceeded" and refused[0].headers["retry-after"]
    # Another workspace mints as usual.
    assert (await client.post("/keys", json={}, headers=bystander.headers)).status_code == 201
    await still_served(client, bystander)


async def test_secrets_are_shown_once_and_never_logged(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    minted = (await client.post("/keys", json={"name": "once"}, headers=workspace.headers)).json()
    assert (await client.post("/chat/completions", json=HELLO, headers=bearer(minted["key"]))).status_code == 200
    listed = (await client.get("/keys", headers=workspace.headers)).json()["data"]
    assert minted["key"] not in str(listed) and all("key" not in entry for entry in listed)
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT * FROM api_keys WHERE id = :id"), {"id": minted["id"]})).one()
    assert minted["key"] not in str(tuple(stored)) and stored.secret_sha256 == fingerprint(minted["key"])
    for part in (stack.ingress, stack.ledger, stack.workers):
        assert minted["key"] not in part.log_path.read_text(errors="replace")
