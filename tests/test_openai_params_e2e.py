"""OpenAI's parameters through the whole pipeline, with the official `openai` package (sync and async) and the
native endpoint: tools, JSON schema output, n choices billed per choice, refusals per provider at the door."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import topics
from schemas.chat_options import ChatOptions
from schemas.events import ChatJobSubmitted, ChatParameters, PromptMessage, encode
from tests.conftest import Stack, Workspace, make_workspace
from tests.kafka_probe import publish
from tests.ledger_checks import balances, entries_for
from tests.test_money_e2e import another_workspace_completes, assert_book_exact

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["C", "F"]}},
            "required": ["city"],
        },
    },
}
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "stars": {"type": "integer"}, "tags": {"type": "array"}},
    "required": ["title", "stars"],
}


def sync_sdk(stack: Stack, api_key: str, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stack.base_url}/openai", api_key=api_key, **({"max_retries": 0} | options))


def async_sdk(stack: Stack, api_key: str, **options: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"{stack.base_url}/openai", api_key=api_key, **({"max_retries": 0, "timeout": 30} | options)
    )


async def recorded_bodies(stack: Stack, upstream: str) -> list[dict[str, Any]]:
    """Bodies the fake provider received for one upstream model (Gemini names it in the path)."""
    async with httpx.AsyncClient(base_url=stack.fake_url) as fake:
        requests = (await fake.get("/_fake/requests")).json()["requests"]
    return [
        r["json"]
        for r in requests
        if str((r["json"] or {}).get("model", "")).startswith(upstream) or upstream in r["path"]
    ]


async def job_rows(engine: AsyncEngine, workspace_id: str) -> list[Any]:
    async with engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    text(
                        "SELECT id, status, hold_tokens, cost_tokens, input_tokens, output_tokens FROM jobs "
                        "WHERE workspace_id = :ws ORDER BY created_at"
                    ),
                    {"ws": workspace_id},
                )
            ).all()
        )


async def test_tools_round_trip_with_the_sync_sdk(stack: Stack, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Dhaka?"}]

    def ask() -> tuple[Any, Any]:
        with sync_sdk(stack, workspace.api_key, timeout=30) as client:
            first = client.chat.completions.create(
                model="openai/gpt-4.1-mini", messages=messages, tools=[WEATHER_TOOL], tool_choice="auto", max_tokens=50
            )
            call = first.choices[0].message.tool_calls[0]
            history = [
                *messages,
                first.choices[0].message.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": call.id, "content": "31 degrees and humid"},
            ]
            second = client.chat.completions.create(
                model="openai/gpt-4.1-mini", messages=history, tools=[WEATHER_TOOL], max_tokens=50
            )
        return first, second

    first, second = await asyncio.to_thread(ask)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls[0].function.name == "get_weather"
    assert json.loads(choice.message.tool_calls[0].function.arguments) == {"city": "fake", "unit": "C"}
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "The tool answered: 31 degrees and humid"
    # What reached the provider: the tools, then the assistant's call and the tool's result in the history.
    sent = (await recorded_bodies(stack, "gpt-4.1-mini"))[-1]
    assert sent["tools"] == [WEATHER_TOOL]
    assert sent["messages"][1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert sent["messages"][2] == {
        "role": "tool",
        "tool_call_id": choice.message.tool_calls[0].id,
        "content": "31 degrees and humid",
    }
    costs = [(first.model_extra or {})["cost"], (second.model_extra or {})["cost"]]
    assert (await balances(engine, workspace.id))["spent"] == sum(costs)


@pytest.mark.parametrize(
    "model",
    ["openai/gpt-4.1-mini", "anthropic/claude-sonnet-4", "gemini/gemini-2.5-flash", "meta/llama-3.1-8b-instruct"],
)
async def test_a_message_that_only_calls_tools_has_null_content(stack: Stack, engine: AsyncEngine, model: str) -> None:
    # Gemini's calls came back with content "" where OpenAI (and the others here) say null.
    workspace = await make_workspace(engine, tokens=100_000)
    async with async_sdk(stack, workspace.api_key) as client:
        answer = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "What is the weather in Dhaka?"}],
            tools=[WEATHER_TOOL],
            tool_choice="required",
            max_tokens=50,
        )
    message = answer.choices[0].message
    assert message.tool_calls and message.content is None, message


async def test_anthropic_tools_are_tool_use_and_tool_result_blocks(
    client: httpx.AsyncClient, stack: Stack, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    ask = {
        "model": "anthropic/claude-sonnet-4",
        "messages": [{"role": "user", "content": "Weather in Sylhet?"}],
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "max_tokens": 60,
    }
    first = await client.post("/chat/completions", json=ask, headers=workspace.headers)
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["finish_reason"] == "tool_use"
    call = answer["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    sent = (await recorded_bodies(stack, "claude-sonnet-4"))[-1]
    assert sent["tools"][0] == {
        "name": "get_weather",
        "description": "The weather in a city",
        "input_schema": WEATHER_TOOL["function"]["parameters"],  # type: ignore[index]
    }
    assert sent["tool_choice"] == {"type": "tool", "name": "get_weather"}

    history = [
        *ask["messages"],  # type: ignore[misc]
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "rain"},
    ]
    second = await client.post("/chat/completions", json=ask | {"messages": history}, headers=workspace.headers)
    assert second.status_code == 200, second.text
    assert second.json()["answer"] == "The tool answered: rain"
    sent = (await recorded_bodies(stack, "claude-sonnet-4"))[-1]
    assert sent["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": call["id"], "name": "get_weather", "input": {"city": "fake", "unit": "C"}}
        ],
    }
    assert sent["messages"][2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "rain"}],
    }
    spent = (await balances(engine, workspace.id))["spent"]
    assert spent == first.json()["cost"] + second.json()["cost"]


async def test_json_schema_output_on_openai_and_gemini_with_the_async_sdk(stack: Stack, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    response_format: Any = {"type": "json_schema", "json_schema": {"name": "review", "schema": ANSWER_SCHEMA}}
    async with async_sdk(stack, workspace.api_key) as client:
        for model in ("openai/gpt-4.1-mini", "gemini/gemini-2.5-flash"):
            completion = await client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": "Review this film"}],
                response_format=response_format,
                max_tokens=80,
            )
            assert json.loads(completion.choices[0].message.content or "") == {
                "title": "fake",
                "stars": 1,
                "tags": [None],
            }
    gemini = (await recorded_bodies(stack, "gemini-2.5-flash"))[-1]
    assert gemini["generationConfig"]["responseMimeType"] == "application/json"
    assert gemini["generationConfig"]["responseJsonSchema"] == ANSWER_SCHEMA
    openai_sent = (await recorded_bodies(stack, "gpt-4.1-mini"))[-1]
    assert openai_sent["response_format"] == response_format


async def single_and_double(client: openai.AsyncOpenAI, model: str) -> tuple[Any, Any]:
    prompt = [{"role": "user", "content": "Name a colour"}]
    one = await client.chat.completions.create(model=model, messages=prompt, max_tokens=30)  # type: ignore[arg-type]
    two = await client.chat.completions.create(model=model, messages=prompt, max_tokens=30, n=2)  # type: ignore[arg-type]
    return one, two


@pytest.mark.parametrize("model", ["openai/gpt-4.1-mini", "gemini/gemini-2.5-flash"])
async def test_n_choices_are_held_and_billed_per_choice(stack: Stack, engine: AsyncEngine, model: str) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    async with async_sdk(stack, workspace.api_key) as client:
        one, two = await single_and_double(client, model)
    assert [c.index for c in two.choices] == [0, 1]
    assert two.choices[0].message.content == two.choices[1].message.content == one.choices[0].message.content
    assert two.usage.prompt_tokens == one.usage.prompt_tokens
    assert two.usage.completion_tokens == 2 * one.usage.completion_tokens
    rows = await job_rows(engine, workspace.id)
    assert [r.status for r in rows] == ["completed", "completed"]
    # The hold covered both choices: one more max_tokens than the single choice's.
    assert rows[1].hold_tokens - rows[0].hold_tokens == 30
    assert rows[1].output_tokens == two.usage.completion_tokens
    assert rows[1].cost_tokens == (two.model_extra or {})["cost"]
    assert (await balances(engine, workspace.id))["spent"] == rows[0].cost_tokens + rows[1].cost_tokens
    if model.startswith("gemini"):
        assert (await recorded_bodies(stack, "gemini-2.5-flash"))[-1]["generationConfig"]["candidateCount"] == 2
    await assert_book_exact(engine)


@pytest.mark.parametrize(
    ("model", "parameter", "value"),
    [
        ("anthropic/claude-sonnet-4", "seed", 7),
        ("anthropic/claude-sonnet-4", "frequency_penalty", 0.5),
        ("anthropic/claude-sonnet-4", "n", 2),
        ("anthropic/claude-sonnet-4", "logit_bias", {"50256": -100}),
        ("gemini/gemini-2.5-flash", "logit_bias", {"50256": -100}),
        ("gemini/gemini-2.5-flash", "logprobs", True),
        ("meta/llama-3.1-8b-instruct", "n", 3),
    ],
)
async def test_a_parameter_without_an_equivalent_is_refused_naming_it_and_the_model(
    stack: Stack, engine: AsyncEngine, model: str, parameter: str, value: object
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    async with async_sdk(stack, workspace.api_key) as client:
        with pytest.raises(openai.BadRequestError) as refused:
            await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "hi"}], extra_body={parameter: value}
            )
    message = refused.value.body["message"]  # type: ignore[index]
    assert f"'{parameter}'" in message and model in message
    assert refused.value.param == parameter  # what a client reads to drop the parameter and retry
    assert await job_rows(engine, workspace.id) == []
    assert (await balances(engine, workspace.id))["available"] == 10_000


async def test_images_only_for_models_that_accept_them(stack: Stack, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    image: Any = {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        ],
    }
    async with async_sdk(stack, workspace.api_key) as client:
        with pytest.raises(openai.BadRequestError, match="does not accept images"):
            await client.chat.completions.create(model="meta/llama-3.1-8b-instruct", messages=[image])
        completion = await client.chat.completions.create(model="anthropic/claude-sonnet-4", messages=[image])
    assert completion.choices[0].message.content
    sent = (await recorded_bodies(stack, "claude-sonnet-4"))[-1]
    assert sent["messages"][0]["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
    }
    assert len(await job_rows(engine, workspace.id)) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_tokens", "10"),
        ("max_tokens", 10.0),
        ("max_tokens", True),
        ("max_completion_tokens", "10"),
        ("temperature", "0.5"),
        ("temperature", True),
        ("top_p", False),
        ("n", 2.0),
        ("seed", "1"),
        ("presence_penalty", 2.5),
        ("frequency_penalty", -3),
        ("logprobs", "true"),
        ("top_logprobs", 21),
        ("parallel_tool_calls", 1),
    ],
)
async def test_wrongly_typed_or_out_of_range_values_are_refused_and_not_billed(
    stack: Stack, engine: AsyncEngine, field: str, value: object
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    async with httpx.AsyncClient(base_url=f"{stack.base_url}/openai", timeout=30) as raw:
        response = await raw.post(
            "/chat/completions",
            json={"model": "openai/gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}], field: value},
            headers=workspace.headers,
        )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and f"'{field}'" in error["message"]
    assert error["param"] == field, error
    assert await job_rows(engine, workspace.id) == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"tool_choice": "required"}, "tool_choice"),  # a rule over two fields: 'tool_choice' needs 'tools'
        ({"messages": [{"role": "user", "content": "a\x00b"}]}, "messages.0.content"),
        ({"frobnicate": 1}, "frobnicate"),
    ],
)
async def test_a_refusal_names_its_field_as_openai_param(
    stack: Stack, engine: AsyncEngine, body: dict[str, Any], param: str
) -> None:
    # `param` was always null, so a client could not tell which field to fix; the message also began with
    # pydantic's "Value error, ".
    workspace = await make_workspace(engine, tokens=10_000)
    async with async_sdk(stack, workspace.api_key) as client:
        with pytest.raises(openai.BadRequestError) as refused:
            await client.chat.completions.create(
                model="openai/gpt-4.1-mini",
                messages=body.get("messages", [{"role": "user", "content": "hi"}]),
                extra_body={k: v for k, v in body.items() if k != "messages"},
            )
    assert refused.value.param == param, refused.value.body
    assert "Value error" not in refused.value.message
    assert await job_rows(engine, workspace.id) == []


async def test_with_raw_response_and_models_retrieve(stack: Stack, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    async with async_sdk(stack, workspace.api_key) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="openai/gpt-4.1-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=10, seed=42
        )
        assert raw.status_code == 200
        assert raw.headers["x-request-id"]
        completion = raw.parse()
        assert completion.choices[0].message.content
        model = await client.models.retrieve("openai/gpt-4.1-mini")
        alias = await client.models.retrieve("gpt-4.1-mini")
        with pytest.raises(openai.NotFoundError) as missing:
            await client.models.retrieve("openai/no-such-model")
    assert (model.id, model.object, model.owned_by) == ("openai/gpt-4.1-mini", "model", "openai")
    assert alias.id == "gpt-4.1-mini"
    assert missing.value.body["code"] == "model_not_found"  # type: ignore[index]
    assert (await recorded_bodies(stack, "gpt-4.1-mini"))[-1]["seed"] == 42


async def test_logprobs_come_back_where_the_provider_gives_them(
    client: httpx.AsyncClient, stack: Stack, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    async with async_sdk(stack, workspace.api_key) as sdk:
        completion = await sdk.chat.completions.create(
            model="openai/gpt-4.1-mini",
            messages=[{"role": "user", "content": "hello there"}],
            max_tokens=10,
            logprobs=True,
            top_logprobs=2,
        )
    logprobs = completion.choices[0].logprobs
    assert logprobs is not None and logprobs.content
    words = (completion.choices[0].message.content or "").split(" ")
    assert [entry.token for entry in logprobs.content] == words[: len(logprobs.content)]
    assert len(logprobs.content[0].top_logprobs) == 2
    # The native poll of the same job keeps them.
    polled = (await client.get(f"/jobs/{completion.id}", headers=workspace.headers)).json()
    assert polled["choices"][0]["logprobs"]["content"][0]["logprob"] == -0.25


async def wait_finished(engine: AsyncEngine, workspace: Workspace, timeout_s: float = 30) -> list[Any]:
    for _ in range(int(timeout_s * 10)):
        rows = await job_rows(engine, workspace.id)
        if rows and all(r.status != "queued" for r in rows):
            return rows
        await asyncio.sleep(0.1)
    raise AssertionError(f"jobs of {workspace.id} never finished")


async def test_the_wait_limit_is_a_408_with_the_job_id_never_retried_and_billed_once(
    client: httpx.AsyncClient, stack: Stack, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    async with httpx.AsyncClient(base_url=stack.fake_url) as fake:
        await fake.post("/_fake/scenario", json={"model": "test-params-slow", "latency_ms": 4000})
        try:
            # The SDK's own retries are on (2): the answer tells it not to, since a retry would be a second job.
            async with async_sdk(stack, workspace.api_key, timeout=3, max_retries=2) as sdk:
                with pytest.raises(openai.APIStatusError) as caught:
                    await sdk.chat.completions.create(
                        model="test/params-slow", messages=[{"role": "user", "content": "slow"}], max_tokens=20
                    )
            rows = await wait_finished(engine, workspace)
        finally:
            await fake.delete("/_fake/scenario", params={"model": "test-params-slow"})
    error = caught.value
    assert error.status_code == 408
    assert error.response.headers["x-should-retry"] == "false"
    body: Any = error.body
    assert body["code"] == "wait_limit_reached"
    assert len(rows) == 1 and rows[0].status == "completed"
    assert body["job_id"] == rows[0].id
    assert error.response.headers["location"] == f"/api/v1/jobs/{rows[0].id}"
    polled = (await client.get(f"/jobs/{rows[0].id}", headers=workspace.headers)).json()
    assert polled["status"] == "completed" and polled["cost"] == rows[0].cost_tokens
    assert (await balances(engine, workspace.id))["spent"] == rows[0].cost_tokens
    await assert_book_exact(engine)


async def test_with_an_idempotency_key_the_sdk_retry_waits_for_the_same_job(stack: Stack, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    async with httpx.AsyncClient(base_url=stack.fake_url) as fake:
        await fake.post("/_fake/scenario", json={"model": "test-params-slow", "latency_ms": 3500})
        try:
            async with async_sdk(stack, workspace.api_key, timeout=3, max_retries=3) as sdk:
                completion = await sdk.chat.completions.create(
                    model="test/params-slow",
                    messages=[{"role": "user", "content": "slow but keyed"}],
                    max_tokens=20,
                    extra_headers={"Idempotency-Key": f"retry-{workspace.id}"},
                )
        finally:
            await fake.delete("/_fake/scenario", params={"model": "test-params-slow"})
    rows = await job_rows(engine, workspace.id)
    assert [r.id for r in rows] == [completion.id]
    assert (await balances(engine, workspace.id))["spent"] == rows[0].cost_tokens


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("huge logit_bias", {"logit_bias": {str(i): 1 for i in range(5000)}}),
        ("absurd n", {"n": 10**12}),
        ("n of zero", {"n": 0}),
        ("NUL in a tool name", {"tools": [{"type": "function", "function": {"name": "get\x00weather"}}]}),
        ("too many tools", {"tools": [{"type": "function", "function": {"name": f"f{i}"}} for i in range(129)]}),
        ("too many stops", {"stop": ["a", "b", "c", "d", "e"]}),
        ("bias out of range", {"logit_bias": {"1": 1000}}),
        (
            "unknown tool forced",
            {"tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "function": {"name": "x"}}},
        ),
    ],
)
async def test_hostile_parameters_are_refused_and_others_keep_flowing(
    client: httpx.AsyncClient, stack: Stack, engine: AsyncEngine, name: str, change: dict[str, Any]
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    body = {"model": "openai/gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}]} | change
    for path in ("/chat/completions", "/openai/chat/completions"):
        response = await client.post(path, json=body, headers=workspace.headers)
        assert response.status_code == 400, (name, path, response.text)
    assert await job_rows(engine, workspace.id) == []
    await another_workspace_completes(client, engine)


# Today's OpenAI request fields and the fields of an answer's message sent back: every hostile value is a 400
# naming the field (and never echoing a huge value), on both surfaces (the native one names the fields it does
# not take as unknown).
@pytest.mark.parametrize(
    ("name", "named", "change"),
    [
        ("NUL in safety_identifier", "safety_identifier", {"safety_identifier": "user\x00x"}),
        ("control character in safety_identifier", "safety_identifier", {"safety_identifier": "user\x1b[2J"}),
        ("huge safety_identifier", "safety_identifier", {"safety_identifier": "u" * 1_000_000}),
        ("safety_identifier as a number", "safety_identifier", {"safety_identifier": 42}),
        ("NUL in prompt_cache_key", "prompt_cache_key", {"prompt_cache_key": "k\x00"}),
        ("huge prompt_cache_key", "prompt_cache_key", {"prompt_cache_key": "k" * 257}),
        ("prompt_cache_key as a list", "prompt_cache_key", {"prompt_cache_key": ["k"]}),
        ("unknown reasoning_effort", "reasoning_effort", {"model": "openai/gpt-5", "reasoning_effort": "extreme"}),
        ("reasoning_effort as a number", "reasoning_effort", {"model": "openai/gpt-5", "reasoning_effort": 3}),
        ("NUL in verbosity", "verbosity", {"model": "openai/gpt-5", "verbosity": "low\x00"}),
        ("store true", "store", {"store": True}),
        ("store as a string", "store", {"store": "false"}),
        ("store as a number", "store", {"store": 0}),
        ("a service tier the gateway has not", "service_tier", {"service_tier": "flex"}),
        ("service_tier with a NUL", "service_tier", {"service_tier": "auto\x00"}),
        ("audio output", "modalities", {"modalities": ["text", "audio"]}),
        ("modalities as a string", "modalities", {"modalities": "text"}),
        ("huge modalities", "modalities", {"modalities": ["text"] * 100_000}),
        ("too many metadata pairs", "metadata", {"metadata": {f"k{i}": "v" for i in range(17)}}),
        ("long metadata key", "metadata", {"metadata": {"k" * 65: "v"}}),
        ("long metadata value", "metadata", {"metadata": {"k": "v" * 513}}),
        ("NUL in a metadata value", "metadata", {"metadata": {"k": "v\x00"}}),
        ("control character in a metadata key", "metadata", {"metadata": {"k\x07": "v"}}),
        ("metadata value as a number", "metadata", {"metadata": {"k": 10}}),
        (
            "obfuscation as a string",
            "include_obfuscation",
            {"stream": True, "stream_options": {"include_obfuscation": "false"}},
        ),
        (
            "an audio answer referred to",
            "audio",
            {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "audio": {"id": "audio_1"}}]},
        ),
        ("NUL in a refusal", "refusal", {"messages": [{"role": "assistant", "content": None, "refusal": "no\x00"}]}),
        ("refusal as a number", "refusal", {"messages": [{"role": "assistant", "content": None, "refusal": 1}]}),
        ("refusal of a user", "refusal", {"messages": [{"role": "user", "content": "hi", "refusal": "no"}]}),
        (
            "too many annotations",
            "annotations",
            {"messages": [{"role": "assistant", "content": "a", "annotations": [{}] * 129}]},
        ),
    ],
)
async def test_hostile_values_of_todays_fields_are_refused_naming_them(
    client: httpx.AsyncClient, engine: AsyncEngine, name: str, named: str, change: dict[str, Any]
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    body = {"model": "openai/gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}]} | change
    for path in ("/chat/completions", "/openai/chat/completions"):
        response = await client.post(path, json=body, headers=workspace.headers)
        assert response.status_code == 400, (name, path, response.text)
        error = response.json()["error"]
        message = error["message"] if isinstance(error, dict) else error
        # The native surface takes no `stream_options`: it names that, the field holding the value.
        names = (named,) if path.startswith("/openai") else (named, *change)
        assert any(n in message for n in names) and len(message) < 400, (name, path, message)
    assert await job_rows(engine, workspace.id) == []
    await another_workspace_completes(client, engine)


def nested_schema(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"x": schema}}
    return schema


async def test_hostile_schemas_and_arguments_are_refused_and_others_keep_flowing(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "\x00"}'}}
    bodies = [
        {"tools": [{"type": "function", "function": {"name": "deep", "parameters": nested_schema(200)}}]},
        {"response_format": {"type": "json_schema", "json_schema": {"name": "deep", "schema": nested_schema(200)}}},
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "big", "schema": {"description": "x" * 70_000}},
            }
        },
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
            ]
        },
    ]
    for change in bodies:
        body = {"model": "openai/gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}]} | change
        response = await client.post("/openai/chat/completions", json=body, headers=workspace.headers)
        assert response.status_code == 400, response.text
    assert await job_rows(engine, workspace.id) == []
    await another_workspace_completes(client, engine)


async def test_a_replayed_submission_of_n_choices_holds_for_every_choice_once_and_bills_once(
    client: httpx.AsyncClient, stack: Stack, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    job = ChatJobSubmitted(
        workspace_id=workspace.id,
        job_id=f"job_{uuid.uuid4().hex}",
        api_key_id=workspace.key_id,
        model_id="openai/gpt-4.1-mini",
        route=("openai/gpt-4.1-mini",),
        input_tokens_estimate=40,
        params=ChatParameters(
            messages=(PromptMessage(role="user", content="three colours"),),
            max_tokens=25,
            options=ChatOptions(n=3),
        ),
    )
    topic = topics.prefixed(stack.topic_prefix, topics.JOBS_SUBMITTED)
    for _ in range(3):
        await publish(stack.kafka, topic, topics.ledger_key(workspace.id), encode(job))
    rows = await wait_finished(engine, workspace)
    assert len(rows) == 1 and rows[0].status == "completed"
    # gpt-4.1-mini is priced 1:1, so the hold is the input estimate plus every choice's max_tokens.
    assert rows[0].hold_tokens == 40 + 3 * 25
    assert await entries_for(engine, job.job_id) == ["hold", "debit"]
    assert rows[0].cost_tokens == rows[0].input_tokens + rows[0].output_tokens
    polled = (await client.get(f"/jobs/{job.job_id}", headers=workspace.headers)).json()
    assert [choice["index"] for choice in polled["choices"]] == [0, 1, 2]
    assert (await balances(engine, workspace.id))["spent"] == rows[0].cost_tokens
    assert (await balances(engine, workspace.id))["available"] == 100_000 - rows[0].cost_tokens
    await assert_book_exact(engine)


async def test_a_participant_name_goes_to_openai_wires_only_and_an_unfit_one_is_a_400_on_both_surfaces(
    stack: Stack, engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    # It was accepted and silently dropped everywhere; agent frameworks set it on every message.
    workspace = await make_workspace(engine, tokens=20_000)
    marker = uuid.uuid4().hex
    messages: Any = [
        {"role": "system", "content": "Be brief.", "name": "rules"},
        {"role": "user", "content": f"hi {marker}", "name": "ann_1"},
    ]
    models = [
        "openai/gpt-4.1-mini",
        "meta/llama-3.1-8b-instruct",
        "anthropic/claude-sonnet-4",
        "gemini/gemini-2.5-flash",
    ]
    async with async_sdk(stack, workspace.api_key) as sdk:
        for model in models:
            completion = await sdk.chat.completions.create(model=model, messages=messages, max_tokens=5)
            assert completion.choices[0].message.content, model
    async with httpx.AsyncClient(base_url=stack.fake_url) as fake:
        recorded = (await fake.get("/_fake/requests")).json()["requests"]
    # The tests' llama server is the fake's OpenAI wire too: each request is told apart by its upstream model.
    sent = {
        str(r["json"].get("model") or r["path"].split("/")[1]): json.dumps(r["json"])
        for r in recorded
        if marker in json.dumps(r["json"])
    }
    assert len(sent) == 4, sent.keys()
    for upstream in ("gpt-4.1-mini", "meta-llama/Llama-3.1-8B-Instruct"):
        assert [m.get("name") for m in json.loads(sent[upstream])["messages"]] == ["rules", "ann_1"]
    for upstream in ("claude-sonnet-4-20250514", "gemini"):
        assert "ann_1" not in sent[upstream] and "rules" not in sent[upstream]

    for name in ["nul\x00", "bell\x07", "line\u2028sep", "a b", "<|im_start|>", "a/b", "n" * 65, "n" * 100_000, 7]:
        body = {"model": "openai/gpt-4.1-mini", "messages": [messages[0], {**messages[1], "name": name}]}
        openai_surface = await client.post("/openai/chat/completions", json=body, headers=workspace.headers)
        assert openai_surface.status_code == 400, openai_surface.text
        assert openai_surface.json()["error"]["param"] == "messages.1.name"
        assert len(openai_surface.text) < 1_000
        native = await client.post("/chat/completions", json=body, headers=workspace.headers)
        assert native.status_code == 400 and native.json()["error"].startswith("'messages.1.name'"), native.text
    await another_workspace_completes(client, engine)
