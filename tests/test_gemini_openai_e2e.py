"""Gemini through the OpenAI surface on the real stack, with the official `openai` package unchanged.

- `parse()` with a nested pydantic model, and a strict tool (`openai.pydantic_function_tool`) round trip: the
  SDK's JSON Schema (`additionalProperties`, `$defs`, `$ref`) reaches Gemini as `responseJsonSchema` /
  `parametersJsonSchema`, which the fake, like Gemini, takes (it refuses those keywords in `responseSchema` /
  `parameters`), and the answer parses into the model.
- Gemini's finish reasons in OpenAI's words: the blocking ones are `content_filter`, unstreamed and streamed;
  MALFORMED_FUNCTION_CALL and a reason nobody knows are `stop`; the native surface keeps Gemini's own word.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Stack, make_workspace
from tests.ledger_checks import balances
from tests.test_openai_params_e2e import async_sdk, recorded_bodies

MODEL = "gemini/gemini-2.5-flash"
UPSTREAM = "gemini-2.5-flash"


class Address(BaseModel):
    city: str
    zip_code: str | None = None


class Person(BaseModel):
    name: str
    address: Address
    previous: list[Address] = Field(description="earlier addresses")


EXPECTED = Person(
    name="fake", address=Address(city="fake", zip_code="fake"), previous=[Address(city="fake", zip_code="fake")]
)


async def test_parse_with_a_nested_pydantic_model_returns_the_parsed_object(stack: Stack, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    async with async_sdk(stack, workspace.api_key) as client:
        completion = await client.chat.completions.parse(
            model=MODEL,
            messages=[{"role": "user", "content": "Who lives where?"}],
            response_format=Person,
            max_tokens=200,
        )

    message = completion.choices[0].message
    assert message.parsed == EXPECTED
    assert completion.choices[0].finish_reason == "stop"
    config = (await recorded_bodies(stack, UPSTREAM))[-1]["generationConfig"]
    assert "responseSchema" not in config
    schema = config["responseJsonSchema"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["address"] == {"$ref": "#/$defs/Address"}
    assert (await balances(engine, workspace.id))["spent"] == (completion.model_extra or {})["cost"]


async def test_a_strict_pydantic_tool_round_trips(stack: Stack, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    tool: Any = openai.pydantic_function_tool(Person, name="save_person", description="Save a person")
    messages: list[Any] = [{"role": "user", "content": "Save Ada, who lives in London"}]
    async with async_sdk(stack, workspace.api_key) as client:
        first = await client.chat.completions.parse(model=MODEL, messages=messages, tools=[tool], max_tokens=200)
        call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
        history = [
            *messages,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.function.name, "arguments": call.function.arguments},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call.id, "content": "saved as #7"},
        ]
        second = await client.chat.completions.parse(model=MODEL, messages=history, tools=[tool], max_tokens=200)

    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "save_person"
    assert call.function.parsed_arguments == EXPECTED
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "The tool answered: saved as #7"
    bodies = await recorded_bodies(stack, UPSTREAM)
    for sent in bodies[-2:]:
        [declaration] = sent["tools"][0]["functionDeclarations"]
        assert declaration == {
            "name": "save_person",
            "description": "Save a person",
            "parametersJsonSchema": tool["function"]["parameters"],
        }
    # The call went back to Gemini as a functionCall part with the parsed arguments, the result as its response.
    assert bodies[-1]["contents"][1]["parts"] == [
        {"functionCall": {"name": "save_person", "args": EXPECTED.model_dump(mode="json")}}
    ]
    assert bodies[-1]["contents"][2]["parts"] == [
        {"functionResponse": {"name": "save_person", "response": {"content": "saved as #7"}}}
    ]
    costs = [(first.model_extra or {})["cost"], (second.model_extra or {})["cost"]]
    assert (await balances(engine, workspace.id))["spent"] == sum(costs)


FINISHES = [
    ("PROHIBITED_CONTENT", "content_filter"),
    ("BLOCKLIST", "content_filter"),
    ("SPII", "content_filter"),
    ("IMAGE_SAFETY", "content_filter"),
    ("SAFETY", "content_filter"),
    ("MALFORMED_FUNCTION_CALL", "stop"),
    ("A_REASON_NOBODY_KNOWS", "stop"),
]


@pytest.mark.parametrize(("reason", "expected"), FINISHES)
async def test_gemini_finish_reasons_in_openai_words(
    stack: Stack, engine: AsyncEngine, client: httpx.AsyncClient, reason: str, expected: str
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    prompt = [{"role": "user", "content": f"Tell me a secret [fake finish_reason={reason}]"}]
    async with async_sdk(stack, workspace.api_key) as sdk:
        completion = await sdk.chat.completions.create(model=MODEL, messages=prompt, max_tokens=30)  # type: ignore[arg-type]
        stream = await sdk.chat.completions.create(model=MODEL, messages=prompt, max_tokens=30, stream=True)  # type: ignore[arg-type]
        chunks = [chunk async for chunk in stream]

    assert completion.choices[0].finish_reason == expected
    streamed = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert streamed == [expected]
    # The native surface and the job keep Gemini's own word.
    native = await client.post(
        "/chat/completions", json={"model": MODEL, "messages": prompt, "max_tokens": 30}, headers=workspace.headers
    )
    assert native.status_code == 200, native.text
    assert native.json()["finish_reason"] == reason
    job = await client.get(f"/jobs/{completion.id}", headers=workspace.headers)
    assert job.status_code == 200, job.text
    assert job.json()["finish_reason"] == reason
