"""Guardrails on every part of a request and of an answer, on the real services with the fake provider.

Output checks reach what the caller reads beyond the answer's text: each of n choices, logprobs, tool calls'
names and arguments, streamed or not. Input checks reach what the provider receives beyond message text: tool
calls in the history, tool definitions, the response schema, image URLs. Refusals at the door charge nothing;
an answer withheld by an output check is not charged either; redacted answers are billed. Every test ends with
the books balanced.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Stack
from tests.guarded_stack import Scenario, hostile_scenario
from tests.guarded_stack import guarded_workspace as guarded_workspace_of
from tests.ledger_checks import assert_books_balance, balances

GRANT = 50_000
HOSTILE = "test/hostile"
CARD = "4111 1111 1111 1111"
OPENAI = "/openai/chat/completions"
LOOKUP: Any = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look a thing up",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
    },
}
OUTPUT_RULES = {"deny": [{"name": "launch-codes", "keywords": ["xyzzy"]}], "redact": ["card"], "check_output": True}
INPUT_RULES = {"deny": [{"name": "codenames", "keywords": ["Bluebird"]}], "redact": ["email"]}


@pytest.fixture
async def scenario(stack: Stack) -> AsyncIterator[Scenario]:
    async with hostile_scenario(stack) as script:
        yield script


async def guarded(client: httpx.AsyncClient, guardrails: dict[str, Any]) -> tuple[str, dict[str, str]]:
    return await guarded_workspace_of(client, guardrails, grant=GRANT)


def ask(content: str = "go", *, model: str = HOSTILE, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": 64, **extra}


def assert_blocked(response: httpx.Response, rule: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    error = body["error"] if isinstance(body.get("error"), dict) else body
    assert error["code"] == "guardrail_blocked", body
    assert f"'{rule}'" in json.dumps(body)


async def untouched(engine: AsyncEngine, workspace: str) -> None:
    assert await balances(engine, workspace) == {"available": GRANT, "held": 0, "spent": 0, "funding": -GRANT}


async def openai_stream(client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    async with client.stream("POST", OPENAI, json={**body, "stream": True}, headers=headers) as response:
        await response.aread()
    return response


def streamed_calls(body: str) -> list[dict[str, str]]:
    """Tool calls rebuilt from OpenAI chunks as the SDK does: by index, argument pieces appended."""
    calls: list[dict[str, str]] = []
    for line in body.splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        for choice in json.loads(line[6:]).get("choices") or []:
            for piece in choice["delta"].get("tool_calls") or []:
                if piece["index"] == len(calls):
                    calls.append({"name": piece["function"]["name"], "arguments": ""})
                calls[piece["index"]]["arguments"] += piece["function"].get("arguments") or ""
    return calls


# Output checks


async def test_logprobs_do_not_spell_out_a_redacted_answer(
    client: httpx.AsyncClient, engine: AsyncEngine, scenario: Scenario
) -> None:
    workspace, headers = await guarded(client, OUTPUT_RULES)
    await scenario(answer_text=f"pay {CARD} now")
    answer = await client.post(OPENAI, json=ask(logprobs=True, top_logprobs=2), headers=headers)
    assert answer.status_code == 200, answer.text
    [choice] = answer.json()["choices"]
    assert choice["message"]["content"] == "pay [REDACTED:card] now"
    # The tokens carry the card number digit group by digit group: the choice's logprobs are dropped.
    assert choice["logprobs"] is None
    assert "1111" not in answer.text
    assert (await balances(engine, workspace))["spent"] == answer.json()["cost"] > 0

    await scenario(answer_text="all fine")
    plain = await client.post(OPENAI, json=ask(logprobs=True), headers=headers)
    assert plain.json()["choices"][0]["logprobs"]["content"], "nothing redacted: the logprobs stay"
    await assert_books_balance(engine)


async def test_every_choice_of_n_is_redacted_on_both_surfaces(
    client: httpx.AsyncClient, engine: AsyncEngine, scenario: Scenario
) -> None:
    _, headers = await guarded(client, OUTPUT_RULES)
    await scenario(answer_text=f"pay {CARD} now")
    answer = await client.post(OPENAI, json=ask(n=2), headers=headers)
    assert answer.status_code == 200, answer.text
    assert [c["message"]["content"] for c in answer.json()["choices"]] == ["pay [REDACTED:card] now"] * 2
    assert "1111" not in answer.text

    native = await client.post("/chat/completions", json=ask(n=2), headers=headers)
    assert native.status_code == 200, native.text
    assert native.json()["answer"] == "pay [REDACTED:card] now"
    assert [c["text"] for c in native.json()["choices"]] == ["pay [REDACTED:card] now"] * 2
    assert "1111" not in native.text
    await assert_books_balance(engine)


async def test_a_tool_calls_arguments_are_redacted_and_stay_json_streamed_or_not(
    client: httpx.AsyncClient, engine: AsyncEngine, scenario: Scenario
) -> None:
    workspace, headers = await guarded(client, OUTPUT_RULES)
    arguments = json.dumps({"q": f"card {CARD}", "number": int(CARD.replace(" ", "")), "keep": "x"})
    await scenario(tool_arguments=arguments, stream_chunk_chars=3)
    expected = {"q": "card [REDACTED:card]", "number": "[REDACTED:card]", "keep": "x"}

    answer = await client.post(OPENAI, json=ask(tools=[LOOKUP]), headers=headers)
    assert answer.status_code == 200, answer.text
    [call] = answer.json()["choices"][0]["message"]["tool_calls"]
    assert call["function"]["name"] == "lookup"
    assert json.loads(call["function"]["arguments"]) == expected
    assert "1111" not in answer.text

    streamed = await openai_stream(client, ask(tools=[LOOKUP]), headers)
    assert streamed.status_code == 200, streamed.text
    assert "1111" not in streamed.text
    [call] = streamed_calls(streamed.text)
    assert call["name"] == "lookup" and json.loads(call["arguments"]) == expected
    assert (await balances(engine, workspace))["spent"] > 0
    await assert_books_balance(engine)


async def test_a_tool_call_answer_a_deny_rule_matches_is_withheld_uncharged(
    client: httpx.AsyncClient, engine: AsyncEngine, scenario: Scenario
) -> None:
    workspace, headers = await guarded(client, OUTPUT_RULES)
    # Escaped in the JSON text: the model's reader sees "xyzzy" all the same.
    await scenario(tool_arguments='{"q": "the code is XYZ\\u005aY"}')
    withheld = await client.post(OPENAI, json=ask(tools=[LOOKUP]), headers=headers)
    assert_blocked(withheld, "launch-codes")
    streamed = await openai_stream(client, ask(tools=[LOOKUP]), headers)
    # The stream started on the hold (README "Streaming"): the withheld answer is its closing error event.
    assert streamed.status_code == 200, streamed.text
    events = [line for line in streamed.text.splitlines() if line.startswith("data: ") and line != "data: [DONE]"]
    error = json.loads(events[-1][6:])["error"]
    assert error["code"] == "guardrail_blocked" and "'launch-codes'" in error["message"], error
    assert "code is" not in streamed.text
    native = await client.post("/chat/completions", json=ask(tools=[LOOKUP]), headers=headers)
    assert_blocked(native, "launch-codes")
    # Every answer withheld: the provider was called, the caller is charged nothing (README, Guardrails).
    await untouched(engine, workspace)
    await assert_books_balance(engine)


# Input checks


def with_history(arguments: str) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "look it up"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": arguments}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "found"},
        {"role": "user", "content": "thanks"},
    ]


def schema_format(description: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"a": {"type": "string", "description": description}}}
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}


@pytest.mark.parametrize(
    "request_body",
    [
        pytest.param({"messages": with_history('{"q": "Bluebird"}')}, id="tool-call-arguments"),
        pytest.param({"messages": with_history('{"q": "Blue\\u0062ird"}')}, id="escaped-tool-call-arguments"),
        pytest.param({"tools": [{"type": "function", "function": {"name": "Bluebird"}}]}, id="tool-name"),
        pytest.param(
            {"tools": [{**LOOKUP, "function": {**LOOKUP["function"], "description": "the bluebird index"}}]},
            id="tool-description",
        ),
        pytest.param(
            {
                "tools": [
                    {
                        **LOOKUP,
                        "function": {**LOOKUP["function"], "parameters": {"enum": ["Bluebird"], "type": "string"}},
                    }
                ]
            },
            id="tool-parameters",
        ),
        pytest.param({"response_format": schema_format("Bluebird's field")}, id="response-schema"),
        pytest.param(
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "what is this?"},
                            {"type": "image_url", "image_url": {"url": "https://bluebird.example/a.png"}},
                        ],
                    }
                ]
            },
            id="image-url",
        ),
    ],
)
async def test_a_deny_rule_reads_every_field_the_provider_receives(
    client: httpx.AsyncClient, engine: AsyncEngine, request_body: dict[str, Any]
) -> None:
    workspace, headers = await guarded(client, INPUT_RULES)
    body = {**ask("hi", model="openai/gpt-4.1-mini"), **request_body}
    assert_blocked(await client.post(OPENAI, json=body, headers=headers), "codenames")
    assert_blocked(await client.post("/chat/completions", json=body, headers=headers), "codenames")
    await untouched(engine, workspace)
    await assert_books_balance(engine)


async def test_tool_call_arguments_and_descriptions_are_redacted_before_the_provider(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    _, headers = await guarded(client, INPUT_RULES)
    marker = "redaction-probe-7f3a"
    tool = {**LOOKUP, "function": {**LOOKUP["function"], "description": f"{marker}: mail ops@example.com"}}
    body = {
        **ask(model="openai/gpt-4.1-mini"),
        "messages": with_history(json.dumps({"to": "jane.doe@example.com", "n": 1})),
        "tools": [tool],
    }
    answer = await client.post(OPENAI, json=body, headers=headers)
    assert answer.status_code == 200, answer.text

    async with httpx.AsyncClient(base_url=stack.fake_url) as fake:
        recorded = (await fake.get("/_fake/requests")).json()["requests"]
    [sent] = [r["json"] for r in recorded if marker in json.dumps(r.get("json"))]
    assert "example.com" not in json.dumps(sent)
    [call] = sent["messages"][1]["tool_calls"]
    assert json.loads(call["function"]["arguments"]) == {"to": "[REDACTED:email]", "n": 1}
    assert sent["tools"][0]["function"]["description"] == f"{marker}: mail [REDACTED:email]"

    job = await client.get(f"/jobs/{answer.json()['id']}", headers=headers)
    assert job.json()["guardrails"] == {"redacted": {"email": 2}}
    await assert_books_balance(engine)


async def test_max_prompt_chars_counts_tool_calls_tools_and_schemas(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace, headers = await guarded(client, {"max_prompt_chars": 200})
    long_text = "x" * 250
    cases: list[dict[str, Any]] = [
        {"messages": with_history(json.dumps({"q": long_text}))},
        {"tools": [{**LOOKUP, "function": {**LOOKUP["function"], "description": long_text}}]},
        {"response_format": schema_format(long_text)},
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": f"https://a.example/{long_text}"}}],
                }
            ]
        },
    ]
    for case in cases:
        body = {**ask("a" * 60, model="openai/gpt-4.1-mini"), **case}
        assert_blocked(await client.post(OPENAI, json=body, headers=headers), "max_prompt_chars")
    await untouched(engine, workspace)
    # The same fields, small, are within the limit.
    fine = {**ask("a" * 20, model="openai/gpt-4.1-mini"), "tools": [LOOKUP]}
    assert (await client.post(OPENAI, json=fine, headers=headers)).status_code == 200
    await assert_books_balance(engine)
