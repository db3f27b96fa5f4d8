"""Tool calls in streams, end to end: the official `openai` package (sync and async) reassembles them from the
OpenAI surface's chunks, the native SSE stream carries them, the polled job records them as an unstreamed job's,
every provider's stream format gets there, and the bill is exact. Hostile tool call pieces cost their own job.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import openai
import pydantic
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.chat_options import TOOL_ARGUMENTS_CHARS_MAX
from tests.conftest import Stack, make_workspace
from tests.ledger_checks import balances, entries_for
from tests.test_streaming_e2e import MODELS, job_view, native_events, user

WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
            "required": ["city"],
        },
    },
}
TIME: Any = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}


class GetWeather(pydantic.BaseModel):
    city: str


def _calls_of(chunks: list[Any]) -> list[dict[str, str]]:
    """Tool calls rebuilt from chunks as a user of `create(stream=True)` would: by index, strings appended."""
    calls: list[dict[str, str]] = []
    for chunk in chunks:
        for piece in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            if piece.index == len(calls):
                calls.append({"id": piece.id, "name": piece.function.name, "arguments": ""})
            else:
                assert piece.id is None, "a call's id comes once"
            calls[piece.index]["arguments"] += piece.function.arguments or ""
    return calls


def _polled_calls(polled: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
        for c in polled["tool_calls"]
    ]


def test_the_sync_sdk_stream_helper_reassembles_a_strict_tool_call(stack: Stack, engine: AsyncEngine) -> None:
    workspace = asyncio.run(make_workspace(engine, tokens=10_000))
    client = openai.OpenAI(base_url=f"{stack.base_url}/openai", api_key=workspace.api_key, max_retries=0, timeout=30)
    with (
        client,
        client.chat.completions.stream(
            model="openai/gpt-4.1-mini",
            messages=user("What is the weather in Dhaka?"),
            tools=[openai.pydantic_function_tool(GetWeather)],
            max_completion_tokens=64,
            stream_options={"include_usage": True},
        ) as stream,
    ):
        kinds = [event.type for event in stream]
        final = stream.get_final_completion()
    assert kinds.count("tool_calls.function.arguments.delta") > 1
    assert "tool_calls.function.arguments.done" in kinds
    [choice] = final.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None  # an answer that is only a tool call, as OpenAI streams it
    [call] = choice.message.tool_calls or []
    assert call.type == "function" and call.function.name == "GetWeather"
    assert call.function.parsed_arguments == GetWeather(city="fake")
    assert final.usage is not None
    polled = asyncio.run(_poll(stack, workspace.api_key, final.id))
    assert polled["finish_reason"] == "tool_calls"
    assert _polled_calls(polled) == [{"id": call.id, "name": "GetWeather", "arguments": call.function.arguments}]
    assert polled["cost"] == final.usage.total_tokens
    assert asyncio.run(balances(engine, workspace.id))["spent"] == final.usage.total_tokens


async def _poll(stack: Stack, api_key: str, job_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.base_url) as http:
        answer: dict[str, Any] = (
            await http.get(f"/jobs/{job_id}", headers={"authorization": f"Bearer {api_key}"})
        ).json()
        return answer


@pytest.mark.parametrize("model", MODELS)
async def test_the_async_sdk_streams_parallel_tool_calls_from_every_provider(
    stack: Stack, engine: AsyncEngine, client: httpx.AsyncClient, model: str
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    async with openai.AsyncOpenAI(
        base_url=f"{stack.base_url}/openai", api_key=workspace.api_key, max_retries=0, timeout=30
    ) as sdk:
        stream = await sdk.chat.completions.create(
            model=model,
            messages=user("Weather and time? [fake tool_calls_each=true tool_text=Checking. stream_chunk_chars=6]"),
            tools=[WEATHER, TIME],
            max_tokens=64,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Checking."
    calls = _calls_of(chunks)
    assert [c["name"] for c in calls] == ["get_weather", "get_time"]
    assert [json.loads(c["arguments"]) for c in calls] == [{"city": "fake", "unit": "celsius"}, {}]
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]
    usage, extra = chunks[-1].usage, chunks[-1].model_extra or {}
    assert usage is not None and extra["cost"] == usage.total_tokens
    polled = await job_view(client, workspace, chunks[0].id)
    assert _polled_calls(polled) == calls
    assert polled["answer"] == "Checking."
    assert (await balances(engine, workspace.id))["spent"] == extra["cost"] == polled["cost"]
    assert (await entries_for(engine, chunks[0].id)).count("debit") == 1


async def test_the_async_sdk_stream_helper_reassembles_the_calls(stack: Stack, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    async with (
        openai.AsyncOpenAI(
            base_url=f"{stack.base_url}/openai", api_key=workspace.api_key, max_retries=0, timeout=30
        ) as sdk,
        sdk.chat.completions.stream(
            model="anthropic/claude-sonnet-4",
            messages=user("Weather? [fake tool_calls_each=true]"),
            tools=[WEATHER, TIME],
            max_tokens=64,
        ) as stream,
    ):
        done = [event async for event in stream if event.type == "tool_calls.function.arguments.done"]
        final = await stream.get_final_completion()
    assert [(event.name, event.index) for event in done] == [("get_weather", 0), ("get_time", 1)]
    calls = final.choices[0].message.tool_calls or []
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("toolu_fake_0", "get_weather", {"city": "fake", "unit": "celsius"}),
        ("toolu_fake_1", "get_time", {}),
    ]
    assert final.choices[0].finish_reason == "tool_calls"


async def test_the_native_stream_carries_tool_calls_and_ends_with_them(
    stack: Stack, engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    workspace = await make_workspace(engine, tokens=5_000)
    events = await native_events(
        client,
        workspace,
        {
            "model": "gemini/gemini-2.5-flash",
            "messages": user("Weather? [fake tool_calls_each=true]"),
            "max_tokens": 32,
            "tools": [WEATHER, TIME],
        },
    )
    names = [name for name, _ in events]
    assert names[0] == "start" and names[-1] == "done" and names.count("tool_call") == 2
    assert "delta" not in names
    pieces = [data["tool_call"] for name, data in events if name == "tool_call"]
    assert [(p["index"], p["id"], p["type"], p["function"]["name"]) for p in pieces] == [
        (0, "call_0_0", "function", "get_weather"),
        (1, "call_0_1", "function", "get_time"),
    ]
    done = events[-1][1]
    assert done["finish_reason"] == "tool_calls"
    assert [c["function"]["arguments"] for c in done["tool_calls"]] == [p["function"]["arguments"] for p in pieces]
    polled = await job_view(client, workspace, done["id"])
    assert polled["tool_calls"] == done["tool_calls"]
    assert done["cost"] == polled["cost"] == done["usage"]["input_tokens"] + done["usage"]["output_tokens"]
    assert (await balances(engine, workspace.id))["spent"] == done["cost"]


async def test_a_plain_native_stream_keeps_its_shape(
    stack: Stack, engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    workspace = await make_workspace(engine, tokens=5_000)
    events = await native_events(
        client, workspace, {"model": "openai/gpt-4.1-mini", "messages": user("hello"), "max_tokens": 8}
    )
    assert "tool_call" not in [name for name, _ in events]
    assert "tool_calls" not in events[-1][1]


async def test_streams_refuse_n_and_logprobs(stack: Stack, engine: AsyncEngine, client: httpx.AsyncClient) -> None:
    workspace = await make_workspace(engine, tokens=5_000)
    for extra, name in (({"n": 2}, "'n'"), ({"logprobs": True}, "'logprobs'")):
        body = {"model": "openai/gpt-4.1-mini", "messages": user("x"), "max_tokens": 8, "stream": True, **extra}
        response = await client.post("/chat/completions", headers=workspace.headers, json=body)
        assert response.status_code == 400 and name in response.json()["error"], response.text
        response = await client.post("/openai/chat/completions", headers=workspace.headers, json=body)
        assert response.status_code == 400 and name in response.json()["error"]["message"], response.text
    assert (await balances(engine, workspace.id))["held"] == 0


@pytest.mark.parametrize(
    "scenario",
    [
        {"tool_arguments": '{"city": "a\x00b"}'},
        {"tool_arguments": '{"blob": "' + "x" * TOOL_ARGUMENTS_CHARS_MAX + '"}'},
        {"tool_call_index": "x"},
        {"tool_call_index": 2**40},
    ],
    ids=["nul", "huge", "not-an-index", "absurd-index"],
)
async def test_hostile_tool_call_pieces_cost_one_job_and_others_complete(
    stack: Stack, engine: AsyncEngine, client: httpx.AsyncClient, scenario: dict[str, Any]
) -> None:
    victim = await make_workspace(engine, tokens=5_000)
    body = {
        "model": "test/hostile",
        "messages": user("weather"),
        "max_tokens": 10,
        "tools": [WEATHER],
        "stream": True,
        "routing": {"provider_timeout_s": 5},
    }
    async with httpx.AsyncClient(base_url=stack.fake_url) as fake:
        (await fake.post("/_fake/scenario", json={"model": "test-hostile", **scenario})).raise_for_status()
        try:
            response = await client.post("/openai/chat/completions", headers=victim.headers, json=body)
        finally:
            await fake.delete("/_fake/scenario", params={"model": "test-hostile"})
    after = await balances(engine, victim.id)
    assert after["held"] == 0
    if "tool_call_index" in scenario and isinstance(scenario["tool_call_index"], int):
        assert response.status_code == 200 and '"index":0' in response.text and "data: [DONE]" in response.text
    elif scenario.get("tool_arguments", "").startswith('{"city"'):
        assert response.status_code == 200 and "data: [DONE]" in response.text
        assert "a\ufffdb" in response.text and "\\u0000" not in response.text
        polled = await job_view(client, victim, response.headers["x-luntrex-job-id"])
        assert json.loads(polled["tool_calls"][0]["function"]["arguments"]) == {"city": "a\ufffdb"}
        assert after["spent"] == polled["cost"] > 0
    elif "tool_arguments" in scenario:
        # The call's first piece went out, then its arguments passed the bound: an error event, nothing charged.
        assert response.status_code == 200 and '"error"' in response.text and "[DONE]" not in response.text
        assert "arguments are longer" in response.text
        assert after["spent"] == 0 and after["available"] == 5_000
    else:
        # Failed before any piece went out, after the hold (the stream had started): retried and failed, an error
        # event and no `[DONE]`, nothing charged.
        assert response.status_code == 200 and '"upstream_error"' in response.text, response.text
        assert "[DONE]" not in response.text and '"function"' not in response.text
        assert after["spent"] == 0
    other = await make_workspace(engine, tokens=1_000)
    events = await native_events(
        client, other, {"model": "openai/gpt-4.1-mini", "messages": user("still fine"), "max_tokens": 5}
    )
    assert events[-1][0] == "done"
