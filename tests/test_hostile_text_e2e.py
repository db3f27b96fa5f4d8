"""NUL and control characters on every route and both surfaces: a 400 naming the field, never a 500; text that
can be stored (control characters other than NUL) is carried as sent. Over-long text is refused in characters.
Absurd `Prefer: wait` values are clamped."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Stack, Workspace, make_workspace
from tests.door_probe import SEED, assert_another_workspace_completes, nothing_queued


@pytest.fixture
async def workspace(engine: AsyncEngine) -> Workspace:
    return await make_workspace(engine, tokens=1_000_000)


def assert_400_naming(response: httpx.Response, field: str, *, openai: bool = False) -> None:
    assert response.status_code == 400, response.text
    body: dict[str, Any] = response.json()
    message = body["error"]["message"] if openai else body["error"]
    code = body["error"]["code"] if openai else body["code"]
    assert code == "invalid_request", body
    assert field in message, message
    assert any(word in message.lower() for word in ("control characters", "nul", "max", "at most")), message
    # A bound checked after a validator made pydantic say "should have at most 64 items" of a 65-character tag,
    # which callers read as too many tags: a text's bound counts characters.
    assert "items after validation" not in message, message


def with_field(path: str, value: Any) -> dict[str, Any]:
    """The seed request with one field (dotted path, list indexes as numbers) replaced."""
    request: dict[str, Any] = {**SEED, "messages": [{"role": "user", "content": "hi"}]}
    *parents, last = path.split(".")
    node: Any = request
    for part in parents:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return request


BODY_CASES = [
    ("messages.0.content", "a\x00b", "messages.0.content"),
    ("messages.0.content", [{"type": "text", "text": "\x00"}], "messages.0.content.0.text"),
    ("model", "openai/gpt-4.1-mini\x00", "model"),
    ("model", "openai/\x01", "model"),
    ("tags", ["ok", "bad\x00"], "tags.1"),
    ("tags", ["\x1b[31mred"], "tags.0"),
    ("tags", ["\x85"], "tags.0"),
    ("stop", "\x00", "stop"),
    ("stop", ["ok", "\x00"], "stop.1"),
    ("routing", {"fallbacks": ["\x00"]}, "routing.fallbacks.0"),
    ("tags", ["t" * 65], "tags.0"),
    ("model", "m" * 129, "model"),
]


@pytest.mark.parametrize(("path", "value", "named"), BODY_CASES)
@pytest.mark.parametrize("surface", ["native", "openai"])
async def test_nul_control_characters_and_overlong_text_in_a_completion_are_400_naming_the_field(
    client: httpx.AsyncClient,
    stack: Stack,
    engine: AsyncEngine,
    workspace: Workspace,
    surface: str,
    path: str,
    value: Any,
    named: str,
) -> None:
    endpoint = "/chat/completions" if surface == "native" else "/openai/chat/completions"
    body = with_field(path, value)
    async with nothing_queued(stack):
        response = await client.post(endpoint, json=body, headers=workspace.headers)
    assert_400_naming(response, named, openai=surface == "openai")
    await assert_another_workspace_completes(stack.base_url, engine)


@pytest.mark.parametrize("path", ["/jobs/" + "j" * 129, "/batches/" + "b" * 65, "/openai/files/" + "f" * 129])
async def test_over_long_ids_in_paths_are_refused_counting_characters(
    client: httpx.AsyncClient, workspace: Workspace, path: str
) -> None:
    response = await client.get(path, headers=workspace.headers)
    assert response.status_code == 400, response.text
    message = response.json()["error"]
    message = message["message"] if isinstance(message, dict) else message
    assert "characters" in message and "items" not in message, message


@pytest.mark.parametrize(
    ("field", "value"),
    [("user", "u\x00"), ("metadata", {"k": "v\x00"}), ("name", "\x07"), ("user", "u" * 257), ("name", "n" * 257)],
)
async def test_openai_only_fields_refuse_nul_control_characters_and_overlong_text(
    client: httpx.AsyncClient, stack: Stack, engine: AsyncEngine, workspace: Workspace, field: str, value: Any
) -> None:
    body = with_field(field, value) if field != "name" else with_field("messages.0.name", value)
    async with nothing_queued(stack):
        response = await client.post("/openai/chat/completions", json=body, headers=workspace.headers)
    assert_400_naming(response, field, openai=True)
    await assert_another_workspace_completes(stack.base_url, engine)


@pytest.mark.parametrize(
    ("method", "path", "named"),
    [
        ("GET", "/jobs/%00", "job_id"),
        ("GET", "/jobs/job_%01", "job_id"),
        ("GET", "/jobs/" + "j" * 200, "job_id"),
        ("POST", "/keys/%00/rotate", "key_id"),
        ("DELETE", "/keys/ab%00", "key_id"),
        ("DELETE", "/keys/%7f", "key_id"),
        ("GET", "/usage?tag=%00", "tag"),
        ("GET", "/usage?tag=a%0Ab", "tag"),
        ("GET", "/usage?model=%00", "model"),
        ("GET", "/usage?model=%C2%85", "model"),
        ("GET", "/usage?since=%00", "since"),
        ("GET", "/usage?until=" + "9" * 400, "until"),
        ("GET", "/usage?since=2024-01-01T00:00:00%00", "since"),
    ],
)
async def test_nul_and_control_characters_in_ids_and_query_parameters_are_400(
    client: httpx.AsyncClient,
    stack: Stack,
    engine: AsyncEngine,
    workspace: Workspace,
    method: str,
    path: str,
    named: str,
) -> None:
    kwargs: dict[str, Any] = {"json": {}} if method == "POST" else {}
    response = await client.request(method, path, headers=workspace.headers, **kwargs)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "invalid_request"
    assert named in body["error"], body
    # The same connection serves the next request: no reset after a refusal.
    assert (await client.get("/balance", headers=workspace.headers)).status_code == 200
    await assert_another_workspace_completes(stack.base_url, engine)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/keys", {"name": "a\x00b"}),
        ("/keys", {"name": "\x01"}),
        ("/keys/{key_id}/rotate", {"name": "next\x00"}),
    ],
)
async def test_nul_and_control_characters_in_key_names_are_400(
    client: httpx.AsyncClient, stack: Stack, engine: AsyncEngine, workspace: Workspace, path: str, body: Any
) -> None:
    response = await client.post(path.format(key_id=workspace.key_id), json=body, headers=workspace.headers)
    assert response.status_code == 400, response.text
    assert "name" in response.json()["error"]
    listed = (await client.get("/keys", headers=workspace.headers)).json()["data"]
    assert [key["id"] for key in listed] == [workspace.key_id], "a refused request minted or rotated a key"
    await assert_another_workspace_completes(stack.base_url, engine)


@pytest.mark.parametrize("key", [b"a\x85b", b"\xa0" * 300])
async def test_an_idempotency_key_outside_printable_text_is_400(
    client: httpx.AsyncClient, stack: Stack, engine: AsyncEngine, workspace: Workspace, key: bytes
) -> None:
    headers: dict[str, Any] = {**workspace.headers, "Idempotency-Key": key}
    async with nothing_queued(stack):
        response = await client.post("/chat/completions", json=SEED, headers=headers)
    assert response.status_code == 400, response.text
    assert "Idempotency-Key" in response.json()["error"]
    await assert_another_workspace_completes(stack.base_url, engine)


CONTROL_TEXT = "".join(chr(code) for code in [*range(1, 32), *range(0x7F, 0xA0)])


@pytest.mark.parametrize("surface", ["native", "openai"])
async def test_control_characters_other_than_nul_are_carried_and_billed(
    client: httpx.AsyncClient, stack: Stack, engine: AsyncEngine, workspace: Workspace, surface: str
) -> None:
    endpoint = "/chat/completions" if surface == "native" else "/openai/chat/completions"
    body = with_field("messages.0.content", f"say {CONTROL_TEXT} back")
    body["stop"] = ["\x01\x02"]
    response = await client.post(endpoint, json=body, headers=workspace.headers)
    assert response.status_code == 200, response.text
    job_id = response.json()["id"]
    polled = await client.get(f"/jobs/{job_id}", headers=workspace.headers)
    assert polled.json()["status"] == "completed"
    await assert_another_workspace_completes(stack.base_url, engine)


@pytest.mark.parametrize("wait", ["9" * 309, "9" * 5000, "0" * 400 + "7", "86401"])
async def test_an_absurd_prefer_wait_is_clamped_to_the_servers_maximum(
    client: httpx.AsyncClient, stack: Stack, engine: AsyncEngine, workspace: Workspace, wait: str
) -> None:
    response = await client.post(
        "/chat/completions", json=SEED, headers={**workspace.headers, "Prefer": f"wait={wait}"}
    )
    assert response.status_code == 200, response.text
    applied = response.headers["preference-applied"]
    assert applied == ("wait=7" if wait.endswith("7") else "wait=60"), applied
    await assert_another_workspace_completes(stack.base_url, engine)
