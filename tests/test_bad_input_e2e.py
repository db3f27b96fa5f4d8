"""Bad input gets a clear error in the API's shape, and a rejected request never reaches Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

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


TOOL: dict[str, Any] = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
# Each boolean of the chat routes, where it sits in the body (stream_options needs stream: true beside it).
BOOLEANS: dict[str, Callable[[object], dict[str, Any]]] = {
    "stream": lambda value: {"stream": value},
    "logprobs": lambda value: {"logprobs": value},
    "parallel_tool_calls": lambda value: {"tools": [TOOL], "parallel_tool_calls": value},
    "tools.0.function.strict": lambda value: {"tools": [{**TOOL, "function": {**TOOL["function"], "strict": value}}]},
    "store": lambda value: {"store": value},
    "stream_options.include_usage": lambda value: {"stream": True, "stream_options": {"include_usage": value}},
}
OPENAI_ONLY = {"store", "stream_options.include_usage"}


@pytest.mark.parametrize("value", ["yes", "true", "false", 1, 0, 1.0, [], {}], ids=repr)
async def test_booleans_are_json_booleans_on_both_chat_routes(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack, workspace: Workspace, value: object
) -> None:
    # As max_tokens is a JSON integer ("10", 10.0 and true are refused), a boolean is true or false, not "yes" or 1.
    submitted = topics.prefixed(stack.topic_prefix, topics.JOBS_SUBMITTED)
    before = await end_offsets(stack.kafka, submitted)
    for field, placed in BOOLEANS.items():
        body = {**GOOD, **placed(value)}
        openai = await client.post("/openai/chat/completions", json=body, headers=workspace.headers)
        assert openai.status_code == 400, (field, openai.text)
        error = openai.json()["error"]
        assert error["param"] == field and error["message"].startswith(f"'{field}'"), error
        if field not in OPENAI_ONLY:
            native = assert_error_shape(
                await client.post("/chat/completions", json=body, headers=workspace.headers), 400, "invalid_request"
            )
            assert str(native["error"]).startswith(f"'{field}'"), native
    assert await end_offsets(stack.kafka, submitted) == before, "a refused request reached Kafka"
    other = await make_workspace(engine, tokens=10_000)
    assert (await client.post("/chat/completions", json=GOOD, headers=other.headers)).status_code == 200
