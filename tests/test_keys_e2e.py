"""Bearer keys scoped to a workspace, rotated without downtime, revoked for good."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import make_workspace

CACHE_TTL_S = 1.0  # LUNTREX_KEY_CACHE_TTL_S in the test stack
HELLO = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_rotation_keeps_the_old_key_working_through_the_grace_period(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    rotated = await client.post(f"/keys/{workspace.key_id}/rotate", json={"grace_s": 60}, headers=workspace.headers)
    assert rotated.status_code == 201, rotated.text
    new_key = rotated.json()["key"]
    assert rotated.json()["replaces"] == workspace.key_id

    await asyncio.sleep(CACHE_TTL_S + 0.2)
    old = await client.post("/chat/completions", json=HELLO, headers=workspace.headers)
    new = await client.post("/chat/completions", json=HELLO, headers=bearer(new_key))
    assert old.status_code == 200 and new.status_code == 200
    # Both keys spend from the same workspace balance.
    assert new.json()["balance_left"] == old.json()["balance_left"] - new.json()["cost"]


async def test_rotation_without_grace_and_revocation_stop_a_key(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    rotated = (
        await client.post(f"/keys/{workspace.key_id}/rotate", json={"grace_s": 0}, headers=workspace.headers)
    ).json()
    spare = (await client.post("/keys", json={"name": "spare"}, headers=bearer(rotated["key"]))).json()
    assert (await client.delete(f"/keys/{spare['id']}", headers=bearer(rotated["key"]))).status_code == 204

    await asyncio.sleep(CACHE_TTL_S + 0.2)
    assert (await client.post("/chat/completions", json=HELLO, headers=workspace.headers)).status_code == 401
    assert (await client.post("/chat/completions", json=HELLO, headers=bearer(spare["key"]))).status_code == 401
    assert (await client.post("/chat/completions", json=HELLO, headers=bearer(rotated["key"]))).status_code == 200

    listed = (await client.get("/keys", headers=bearer(rotated["key"]))).json()["data"]
    assert {key["id"] for key in listed} == {workspace.key_id, rotated["id"], spare["id"]}
    assert all("key" not in key and "secret_sha256" not in key for key in listed)


async def test_a_key_cannot_touch_another_workspaces_keys(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    mine, theirs = await make_workspace(engine, tokens=0), await make_workspace(engine, tokens=0)
    assert (await client.delete(f"/keys/{theirs.key_id}", headers=mine.headers)).status_code == 404
    assert (await client.post(f"/keys/{theirs.key_id}/rotate", json={}, headers=mine.headers)).status_code == 404
    listed = (await client.get("/keys", headers=mine.headers)).json()["data"]
    assert [key["id"] for key in listed] == [mine.key_id]


async def test_bad_key_requests_get_the_error_shape(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=0)
    response = await client.post("/keys", json={"name": "", "admin": True}, headers=workspace.headers)
    assert response.status_code == 400
    assert response.json()["status"] == 400 and response.json()["code"] == "invalid_request"
