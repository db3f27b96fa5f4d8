"""With the official `openai` package: an answer's message sent back unchanged (`messages.append(
completion.choices[0].message)`, as OpenAI's docs write every multi-turn chat and tool loop) continues the
conversation on each provider kind; and today's request fields (`safety_identifier`, `prompt_cache_key`,
`store`, `service_tier`, `modalities`, `reasoning_effort`, `verbosity`, `stream_options.include_obfuscation`)
are accepted with their documented meaning, forwarded where the provider has them, refused where it has not."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Stack, make_workspace
from tests.ledger_checks import balances
from tests.test_openai_params_e2e import WEATHER_TOOL, job_rows, recorded_bodies, sync_sdk

TOOLS: Any = [WEATHER_TOOL]
# Model id -> the upstream name the fake provider records it under.
MODELS = {
    "openai/gpt-4.1-mini": "gpt-4.1-mini",
    "anthropic/claude-sonnet-4": "claude-sonnet-4",
    "gemini/gemini-2.5-flash": "gemini-2.5-flash",
}


@pytest.mark.parametrize("model", list(MODELS))
async def test_an_answer_sent_back_unchanged_continues_the_conversation(
    stack: Stack, engine: AsyncEngine, model: str
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)

    def converse() -> list[Any]:
        with sync_sdk(stack, workspace.api_key, timeout=30) as client:
            messages: list[Any] = [{"role": "user", "content": "hi"}]
            answers = []
            for follow_up in ("and again", "once more"):
                answer = client.chat.completions.create(model=model, messages=messages, max_tokens=20)
                answers.append(answer)
                # The message object as the SDK returned it: the SDK re-sends its `refusal: null`.
                messages += [answer.choices[0].message, {"role": "user", "content": follow_up}]
            # And dumped with every field OpenAI's SDK knows, null (audio, function_call, annotations...).
            messages[-2] = messages[-2].model_dump()
            answers.append(client.chat.completions.create(model=model, messages=messages, max_tokens=20))
            return answers

    answers = await asyncio.to_thread(converse)
    assert all(a.choices[0].message.content for a in answers)
    # The provider saw the earlier answers as the assistant's turns.
    sent = json.dumps((await recorded_bodies(stack, MODELS[model]))[-1])
    for earlier in answers[:2]:
        assert json.dumps(earlier.choices[0].message.content)[1:-1] in sent
    costs = [(a.model_extra or {})["cost"] for a in answers]
    assert (await balances(engine, workspace.id))["spent"] == sum(costs)
    assert len(await job_rows(engine, workspace.id)) == 3


@pytest.mark.parametrize("model", list(MODELS))
async def test_a_tool_call_answer_sent_back_unchanged_completes_the_tool_loop(
    stack: Stack, engine: AsyncEngine, model: str
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)

    def tool_loop() -> tuple[Any, Any]:
        with sync_sdk(stack, workspace.api_key, timeout=30) as client:
            messages: list[Any] = [{"role": "user", "content": "What is the weather in Dhaka?"}]
            first = client.chat.completions.create(model=model, messages=messages, tools=TOOLS, max_tokens=50)
            message = first.choices[0].message
            messages.append(message)  # unchanged, as OpenAI's function-calling guide does
            for call in message.tool_calls or ():
                messages.append({"role": "tool", "tool_call_id": call.id, "content": "31 degrees and humid"})
            second = client.chat.completions.create(model=model, messages=messages, tools=TOOLS, max_tokens=50)
        return first, second

    first, second = await asyncio.to_thread(tool_loop)
    assert first.choices[0].finish_reason == "tool_calls"
    assert second.choices[0].message.content == "The tool answered: 31 degrees and humid"
    costs = [(first.model_extra or {})["cost"], (second.model_extra or {})["cost"]]
    assert (await balances(engine, workspace.id))["spent"] == sum(costs)


async def test_a_refusal_is_the_assistants_text_and_audio_is_refused_by_name(
    client: httpx.AsyncClient, stack: Stack, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    user = {"role": "user", "content": "hi"}
    refused = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    parts = {"role": "assistant", "content": [{"type": "refusal", "refusal": "Not that either."}]}
    body = {"model": "openai/gpt-4.1-mini", "messages": [user, refused, user, parts, user], "max_tokens": 10}
    answer = await client.post("/openai/chat/completions", json=body, headers=workspace.headers)
    assert answer.status_code == 200, answer.text
    sent = (await recorded_bodies(stack, "gpt-4.1-mini"))[-1]
    assert sent["messages"][1] == {"role": "assistant", "content": "I can't help with that."}
    assert sent["messages"][3]["content"] in ("Not that either.", [{"type": "text", "text": "Not that either."}])

    before = await job_rows(engine, workspace.id)
    for field, value in (("audio", {"id": "audio_abc"}), ("function_call", {"name": "f", "arguments": "{}"})):
        with_it = {"role": "assistant", "content": "Hello", field: value}
        body = {"model": "openai/gpt-4.1-mini", "messages": [user, with_it, user]}
        response = await client.post("/openai/chat/completions", json=body, headers=workspace.headers)
        assert response.status_code == 400, response.text
        assert f"'messages.1.{field}'" in response.json()["error"]["message"]
    # A user message has no refusal, even a null one.
    body = {"model": "openai/gpt-4.1-mini", "messages": [user | {"refusal": None}]}
    response = await client.post("/openai/chat/completions", json=body, headers=workspace.headers)
    assert response.status_code == 400 and "'refusal'" in response.json()["error"]["message"], response.text
    assert await job_rows(engine, workspace.id) == before


async def test_todays_fields_are_accepted_and_forwarded_to_openai(stack: Stack, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    fields: dict[str, Any] = {
        "reasoning_effort": "low",
        "verbosity": "low",
        "safety_identifier": "user-hash-1",
        "prompt_cache_key": "chat-42",
        "store": False,
        "service_tier": "auto",
        "modalities": ["text"],
        "metadata": {"run": "nightly"},
    }

    def ask() -> tuple[Any, list[Any]]:
        with sync_sdk(stack, workspace.api_key, timeout=30) as client:
            prompt: Any = [{"role": "user", "content": "hi"}]
            answer = client.chat.completions.create(model="openai/gpt-5", messages=prompt, max_tokens=20, **fields)
            chunks = list(
                client.chat.completions.create(
                    model="openai/gpt-5",
                    messages=prompt,
                    max_tokens=20,
                    stream=True,
                    stream_options={"include_usage": True, "include_obfuscation": False},
                    **fields,
                )
            )
        return answer, chunks

    answer, chunks = await asyncio.to_thread(ask)
    assert answer.choices[0].message.content
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == answer.choices[0].message.content
    assert chunks[-1].usage is not None
    for sent in (await recorded_bodies(stack, "gpt-5"))[-2:]:
        forwarded = {"reasoning_effort", "verbosity", "safety_identifier", "prompt_cache_key"}
        assert {name: sent.get(name) for name in forwarded} == {name: fields[name] for name in forwarded}
        # The gateway's own decisions: nothing stored, its own tier, text only, metadata not sent on.
        assert not {"store", "service_tier", "modalities", "metadata"} & set(sent)


async def test_the_hints_go_to_openai_only_and_safety_identifier_labels_the_user_elsewhere(
    client: httpx.AsyncClient, stack: Stack, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    hints = {"safety_identifier": "user-hash-2", "prompt_cache_key": "chat-43"}
    for model in ("anthropic/claude-sonnet-4", "gemini/gemini-2.5-flash", "meta/llama-3.1-8b-instruct"):
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10} | hints
        response = await client.post("/openai/chat/completions", json=body, headers=workspace.headers)
        assert response.status_code == 200, (model, response.text)
    anthropic = (await recorded_bodies(stack, "claude-sonnet-4"))[-1]
    assert anthropic["metadata"] == {"user_id": "user-hash-2"}
    assert "prompt_cache_key" not in anthropic and "safety_identifier" not in anthropic
    for upstream in ("gemini-2.5-flash", "meta-llama/Llama-3.1-8B-Instruct"):
        sent = json.dumps((await recorded_bodies(stack, upstream))[-1])
        assert "user-hash-2" not in sent and "chat-43" not in sent


@pytest.mark.parametrize(
    ("model", "parameter", "value"),
    [
        ("openai/gpt-4.1-mini", "reasoning_effort", "low"),
        ("openai/gpt-4.1-mini", "verbosity", "low"),
        ("anthropic/claude-sonnet-4", "reasoning_effort", "high"),
        ("gemini/gemini-2.5-flash", "reasoning_effort", "minimal"),
        ("meta/llama-3.1-8b-instruct", "verbosity", "high"),
    ],
)
async def test_reasoning_parameters_are_refused_for_a_model_without_them(
    stack: Stack, engine: AsyncEngine, model: str, parameter: str, value: str
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)

    option: dict[str, Any] = {parameter: value}

    def ask() -> openai.BadRequestError:
        with sync_sdk(stack, workspace.api_key) as client, pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], **option)
        return refused.value

    refused = await asyncio.to_thread(ask)
    message = refused.body["message"]  # type: ignore[index]
    assert f"parameter '{parameter}' is not supported by model {model}" in message
    assert await job_rows(engine, workspace.id) == []
