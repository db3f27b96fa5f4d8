"""Isolation is total: every endpoint that takes an id answers 404 for another workspace's id, never data."""

from __future__ import annotations

import httpx
import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from ingress import apidocs
from tests.conftest import make_workspace

HELLO = {"messages": [{"role": "user", "content": "tell me a secret"}], "max_tokens": 8}


def workspace_routes_with_ids() -> set[tuple[str, str]]:
    """Every workspace-key route whose path carries an id (the admin API is the operator's, not a workspace's;
    a model id names a catalogue entry, the same for every workspace)."""
    paths = apidocs.openapi_document()["paths"]
    return {
        (method.upper(), path)
        for path, operations in paths.items()
        if "{" in path and "/admin/" not in path and "/models/" not in path
        for method in operations
    }


async def test_another_workspaces_ids_are_404_on_every_endpoint(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    mine, theirs = await make_workspace(engine, tokens=10_000), await make_workspace(engine, tokens=10_000)
    hook = await client.post(
        "/webhooks", json={"url": "http://127.0.0.1:9/hook", "event_types": ["job.completed"]}, headers=theirs.headers
    )
    finished = (await client.post("/chat/completions", json=HELLO, headers=theirs.headers)).json()
    deliveries = await client.get(f"/webhooks/{hook.json()['id']}/deliveries", headers=theirs.headers)
    queued = await client.post("/chat/completions", json=HELLO, headers={**theirs.headers, "Prefer": "respond-async"})
    spare = (await client.post("/keys", json={"name": "theirs"}, headers=theirs.headers)).json()
    alert = await client.post(
        "/billing/alert-thresholds", json={"kind": "absolute", "threshold_tokens": 10}, headers=theirs.headers
    )
    line = {
        "custom_id": "a",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4.1-mini", **HELLO},
    }
    batch = await client.post("/batches", json=[line], headers=theirs.headers)
    assert batch.status_code == 201, batch.text
    uploaded = await client.post(
        "/openai/files",
        files={"file": ("in.jsonl", orjson.dumps(line) + b"\n")},
        data={"purpose": "batch"},
        headers={"Authorization": theirs.headers["Authorization"]},
    )
    assert uploaded.status_code == 200, uploaded.text
    ids = {
        "batch_id": [batch.json()["id"]],
        "file_id": [uploaded.json()["id"]],
        "job_id": [finished["id"], queued.json()["id"]],
        "key_id": [theirs.key_id, spare["id"]],
        "threshold_id": [str(alert.json()["id"])],
        "endpoint_id": [hook.json()["id"]],
        "delivery_id": [str(deliveries.json()["data"][0]["id"])],
    }
    probes = {
        ("GET", "/api/v1/jobs/{job_id}"): {},
        ("POST", "/api/v1/keys/{key_id}/rotate"): {"grace_s": 0},
        ("DELETE", "/api/v1/keys/{key_id}"): None,
        ("GET", "/api/v1/keys/{key_id}/guardrails"): None,
        ("PUT", "/api/v1/keys/{key_id}/guardrails"): {"deny": [{"name": "mine", "keywords": ["tell"]}]},
        ("DELETE", "/api/v1/keys/{key_id}/guardrails"): None,
        ("DELETE", "/api/v1/billing/alert-thresholds/{threshold_id}"): None,
        ("GET", "/api/v1/webhooks/{endpoint_id}"): None,
        ("PATCH", "/api/v1/webhooks/{endpoint_id}"): {"description": "mine now"},
        ("DELETE", "/api/v1/webhooks/{endpoint_id}"): None,
        ("POST", "/api/v1/webhooks/{endpoint_id}/rotate-secret"): {"grace_s": 0},
        ("GET", "/api/v1/webhooks/{endpoint_id}/deliveries"): None,
        ("POST", "/api/v1/webhooks/deliveries/{delivery_id}/redeliver"): None,
        ("GET", "/api/v1/batches/{batch_id}"): None,
        ("GET", "/api/v1/batches/{batch_id}/results"): None,
        ("POST", "/api/v1/batches/{batch_id}/cancel"): None,
        ("GET", "/api/v1/openai/batches/{batch_id}"): None,
        ("POST", "/api/v1/openai/batches/{batch_id}/cancel"): None,
        ("GET", "/api/v1/openai/files/{file_id}"): None,
        ("GET", "/api/v1/openai/files/{file_id}/content"): None,
        ("DELETE", "/api/v1/openai/files/{file_id}"): None,
    }
    # A new route with an id must be added here: the test fails rather than silently not covering it.
    assert set(probes) == workspace_routes_with_ids()
    for (method, template), body in probes.items():
        name = template.split("{")[1].rstrip("}/").split("}")[0]
        for foreign_id in ids[name]:
            path = template.replace("{" + name + "}", foreign_id).removeprefix("/api/v1")
            response = await client.request(method, path, json=body, headers=mine.headers)
            assert response.status_code == 404, (method, path, response.text)
            if path.startswith("/openai/"):
                assert response.json()["error"]["code"] in ("not_found", "batch_not_found", "file_not_found")
            else:
                assert set(response.json()) == {"error", "status", "code", "request_id"}
            assert "secret" not in response.text and finished["answer"] not in response.text

    # Their keys still work, and nothing of theirs shows in my listings.
    assert (await client.get(f"/jobs/{finished['id']}", headers=theirs.headers)).status_code == 200
    assert (
        await client.post(
            "/chat/completions", json=HELLO, headers={**theirs.headers, "Authorization": f"Bearer {spare['key']}"}
        )
    ).status_code == 200
    # My PUT set no guardrails on their keys: their request above passed, and their keys show none.
    theirs_listed = (await client.get("/keys", headers=theirs.headers)).json()["data"]
    assert [key["guardrails"] for key in theirs_listed] == [None, None]
    listed = (await client.get("/keys", headers=mine.headers)).json()["data"]
    assert [key["id"] for key in listed] == [mine.key_id]
    usage = (await client.get("/usage", headers=mine.headers)).json()
    assert usage["totals"]["jobs"] == 0
    their_balance = (await client.get("/balance", headers=theirs.headers)).json()
    assert [t["threshold_tokens"] for t in their_balance["alert_thresholds"]] == [10]  # my DELETE removed nothing
    their_file = await client.get(f"/openai/files/{uploaded.json()['id']}/content", headers=theirs.headers)
    assert their_file.status_code == 200 and their_file.content == orjson.dumps(line) + b"\n"  # nor this one
    assert (await client.get("/openai/files", headers=mine.headers)).json()["data"] == []
