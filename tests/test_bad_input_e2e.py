"""Bad input gets a clear error in the API's shape, and a rejected request never reaches Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import topics
from tests.conftest import Stack, Workspace, make_workspace
from tests.kafka_probe import end_offsets

GOOD = {"model": "openai/gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def workspace(engine: AsyncEngine) -> Workspace:
    return await make_workspace(engine, tokens=10_000)


@pytest.fixture
async def nothing_queued(stack: Stack) -> AsyncIterator[None]:
    """Asserts, after the test, that no job reached `jobs.submitted` while it ran."""
    topic = topics.prefixed(stack.topic_prefix, topics.JOBS_SUBMITTED)
    before = await end_offsets(stack.kafka, topic)
    yield
    assert await end_offsets(stack.kafka, topic) == before, "a rejected request reached Kafka"


def assert_error_shape(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["request_id"], str) and body["request_id"]
    return body


@pytest.mark.usefixtures("nothing_queued")
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer  x y",
        "Basic abc",
        "Bearer lx_nothere_000",
        "Bearer not-even-our-format",
        "Bearer " + "x" * 5000,
    ],
)
async def test_missing_or_wrong_key_is_401(client: httpx.AsyncClient, authorization: str | None) -> None:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = await client.post("/chat/completions", json=GOOD, headers=headers)
    assert_error_shape(response, 401, "invalid_api_key")


@pytest.mark.usefixtures("nothing_queued")
async def test_revoked_key_is_401(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    from ingress.keys import revoke_key

    workspace = await make_workspace(engine, tokens=10)
    async with engine.begin() as conn:
        assert await revoke_key(conn, workspace.id, workspace.key_id)
    # A key never seen by this ingress is not cached, so revocation shows at once.
    response = await client.post("/chat/completions", json=GOOD, headers=workspace.headers)
    assert_error_shape(response, 401, "invalid_api_key")


@pytest.mark.usefixtures("nothing_queued")
@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        (b"{not json", "invalid_json", "JSON"),
        (b"", "invalid_json", "JSON"),
        (b"[1, 2]", "invalid_request", "object"),
        (b"\xff\xfe{}", "invalid_json", "JSON"),
        (b"[" * 5000 + b"]" * 5000, "invalid_json", "JSON"),
        (b'{"messages": []}', "invalid_request", "messages"),
        (b'{"model": "openai/gpt-4.1-mini"}', "invalid_request", "messages"),
        (b'{"messages": [{"role": "tool", "content": "x"}]}', "invalid_request", "role"),
        (b'{"messages": [{"role": "user"}]}', "invalid_request", "content"),
        (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}', "invalid_request", "max_tokens"),
        (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": "ten"}', "invalid_request", "max_tokens"),
        (b'{"messages": [{"role": "user", "content": "x"}], "surprise": 1}', "invalid_request", "surprise"),
        (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 999999999}', "invalid_request", "max_tokens"),
    ],
)
async def test_malformed_requests_are_400(
    client: httpx.AsyncClient, workspace: Workspace, body: bytes, code: str, fragment: str
) -> None:
    response = await client.post("/chat/completions", content=body, headers=workspace.headers)
    error = assert_error_shape(response, 400, code)
    assert fragment.lower() in str(error["error"]).lower()


@pytest.mark.usefixtures("nothing_queued")
async def test_unknown_model_is_404_with_a_hint(client: httpx.AsyncClient, workspace: Workspace) -> None:
    response = await client.post(
        "/chat/completions", json={**GOOD, "model": "openai/gpt-17"}, headers=workspace.headers
    )
    error = assert_error_shape(response, 404, "model_not_found")
    assert "GET /api/v1/models" in str(error["error"])


@pytest.mark.usefixtures("nothing_queued")
async def test_oversized_body_is_413(client: httpx.AsyncClient, workspace: Workspace) -> None:
    huge = {"messages": [{"role": "user", "content": "x" * 2_000_000}]}
    response = await client.post("/chat/completions", json=huge, headers=workspace.headers)
    assert_error_shape(response, 413, "payload_too_large")


@pytest.mark.usefixtures("nothing_queued")
async def test_hostile_strings_are_data_not_code(client: httpx.AsyncClient, workspace: Workspace) -> None:
    response = await client.post(
        "/chat/completions",
        json={"model": "'; DROP TABLE jobs; --", "messages": [{"role": "user", "content": "hi"}]},
        headers=workspace.headers,
    )
    assert_error_shape(response, 404, "model_not_found")
    assert (await client.get("/models", headers=workspace.headers)).status_code == 200


@pytest.mark.usefixtures("nothing_queued")
async def test_a_prompt_surely_over_the_context_is_400_with_the_limit(
    client: httpx.AsyncClient, workspace: Workspace
) -> None:
    response = await client.post(
        "/chat/completions",
        json={"model": "test/tiny", "messages": [{"role": "user", "content": "word " * 200}]},
        headers=workspace.headers,
    )
    error = assert_error_shape(response, 400, "invalid_request")
    assert "context of 64 tokens" in str(error["error"])


@pytest.mark.usefixtures("nothing_queued")
async def test_too_many_messages_is_400_with_the_limit(client: httpx.AsyncClient, workspace: Workspace) -> None:
    messages = [{"role": "user", "content": "x"}] * 513
    response = await client.post("/chat/completions", json={"messages": messages}, headers=workspace.headers)
    error = assert_error_shape(response, 400, "invalid_request")
    assert "the limit is 512" in str(error["error"])
