"""OpenAI's JSON Schemas on Gemini, and Gemini's finish reasons, over real HTTP against the fake provider.

`parse()` and strict tools send JSON Schema with `additionalProperties`, `$defs` and `$ref`; Gemini's Schema
fields (`responseSchema`, `parameters`) have none of them and the real API answers 400, as the fake now does.
Both adapters (unstreamed and streamed, one translation) send them as `responseJsonSchema` /
`parametersJsonSchema`, and the answer sampled from them has the nested objects a pydantic model needs.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel, Field

from fakeprovider import features
from fakeprovider.testing import RunningFakeProvider
from schemas.chat_options import ChatOptions, ToolDefinition
from tests.provider_harness import (
    clean_fake_fixture,  # noqa: F401
    client_fixture,  # noqa: F401
    fake_config,
    fake_fixture,  # noqa: F401
    only_request,
    provider_call,
)
from workers.providers import translate_gemini
from workers.providers.base import ProviderCall, ProviderRejected, ProviderResult
from workers.providers.client import ProviderClient
from workers.providers.gemini import GeminiAdapter
from workers.providers.streams.contract import StreamPiece
from workers.providers.streams.gemini_stream import GeminiStream

MODEL = "gemini-2.5-flash"
GEMINI_PATH = f"/gemini/v1beta/models/{MODEL}:generateContent"


class Address(BaseModel):
    city: str
    zip_code: str | None = None


class Person(BaseModel):
    name: str
    address: Address
    previous: list[Address] = Field(description="earlier addresses")


# Exactly what the openai package sends for a pydantic model (`parse()` uses the same strict schema).
PERSON_TOOL: dict[str, Any] = openai.pydantic_function_tool(Person)  # type: ignore[assignment]
STRICT_SCHEMA: dict[str, Any] = PERSON_TOOL["function"]["parameters"]
PERSON = {
    "name": "fake",
    "address": {"city": "fake", "zip_code": "fake"},
    "previous": [{"city": "fake", "zip_code": "fake"}],
}


def _call(options: ChatOptions, text: str = "Who lives where?") -> ProviderCall:
    return provider_call(MODEL, (("user", text),), 64, options=options)


async def _complete(
    fake: RunningFakeProvider, client: ProviderClient, call: ProviderCall, *, streamed: bool
) -> ProviderResult:
    config = fake_config(fake, client, name="gemini", path="/gemini", api_key="AIza")
    if not streamed:
        return await GeminiAdapter(config).complete(call)

    async def sink(piece: StreamPiece) -> None:
        pass

    return await GeminiStream(config).stream(call, sink)


def test_the_strict_schema_has_what_gemini_schema_lacks() -> None:
    """The premise: what the SDK sends is JSON Schema beyond Gemini's OpenAPI subset."""
    assert STRICT_SCHEMA["additionalProperties"] is False
    assert STRICT_SCHEMA["properties"]["address"] == {"$ref": "#/$defs/Address"}
    assert "Address" in STRICT_SCHEMA["$defs"]
    assert PERSON_TOOL["function"]["strict"] is True


@pytest.mark.parametrize("streamed", [False, True], ids=["unstreamed", "streamed"])
async def test_a_strict_response_schema_goes_as_response_json_schema(
    fake: RunningFakeProvider, client: ProviderClient, streamed: bool
) -> None:
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "Person", "schema": STRICT_SCHEMA, "strict": True},
    }
    options = ChatOptions.model_validate({"response_format": response_format})
    result = await _complete(fake, client, _call(options), streamed=streamed)

    config = only_request(fake)["json"]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == STRICT_SCHEMA
    assert "responseSchema" not in config
    assert Person.model_validate_json(result.text) == Person.model_validate(PERSON)


@pytest.mark.parametrize("streamed", [False, True], ids=["unstreamed", "streamed"])
async def test_a_strict_tool_goes_as_parameters_json_schema(
    fake: RunningFakeProvider, client: ProviderClient, streamed: bool
) -> None:
    options = ChatOptions(tools=(ToolDefinition.model_validate(PERSON_TOOL),), tool_choice="required")
    result = await _complete(fake, client, _call(options), streamed=streamed)

    [declaration] = only_request(fake)["json"]["tools"][0]["functionDeclarations"]
    assert declaration == {"name": "Person", "parametersJsonSchema": STRICT_SCHEMA}
    [choice] = result.choices
    assert choice.finish_reason == "tool_calls"
    [call] = choice.tool_calls
    assert call.function.name == "Person"
    assert Person.model_validate_json(call.function.arguments) == Person.model_validate(PERSON)


def _gemini(fake: RunningFakeProvider, body: dict[str, Any]) -> httpx.Response:
    base = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    return httpx.post(f"{fake.url}{GEMINI_PATH}", json=base | body, headers={"x-goog-api-key": "AIza"})


def test_the_fake_refuses_json_schema_keywords_in_response_schema_as_gemini_does(fake: RunningFakeProvider) -> None:
    config = {"responseMimeType": "application/json", "responseSchema": STRICT_SCHEMA}
    response = _gemini(fake, {"generationConfig": config})

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    lines = error["message"].split("\n")
    assert lines == [
        "Invalid JSON payload received. Unknown name \"$defs\" at 'generation_config.response_schema': "
        "Cannot find field.",
        'Invalid JSON payload received. Unknown name "additionalProperties" at '
        "'generation_config.response_schema': Cannot find field.",
        'Invalid JSON payload received. Unknown name "$ref" at '
        "'generation_config.response_schema.properties[1].value': Cannot find field.",
        'Invalid JSON payload received. Unknown name "$ref" at '
        "'generation_config.response_schema.properties[2].value.items': Cannot find field.",
    ]
    [detail] = error["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert [v["field"] for v in detail["fieldViolations"]] == [
        "generation_config.response_schema",
        "generation_config.response_schema",
        "generation_config.response_schema.properties[1].value",
        "generation_config.response_schema.properties[2].value.items",
    ]
    assert [v["description"] for v in detail["fieldViolations"]] == lines


def test_the_fake_refuses_json_schema_keywords_in_parameters_and_any_of(fake: RunningFakeProvider) -> None:
    parameters = {
        "type": "object",
        "properties": {"when": {"anyOf": [{"type": "string"}, {"type": "integer", "const": 1}]}},
        "$schema": "https://json-schema.org/draft/2020-12/schema",
    }
    tools = [
        {
            "functionDeclarations": [
                {"name": "ok", "parameters": {"type": "object"}},
                {"name": "t", "parameters": parameters},
            ]
        }
    ]
    response = _gemini(fake, {"tools": tools})

    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["fieldViolations"] == [
        {
            "field": "tools[0].function_declarations[1].parameters",
            "description": 'Invalid JSON payload received. Unknown name "$schema" at '
            "'tools[0].function_declarations[1].parameters': Cannot find field.",
        },
        {
            "field": "tools[0].function_declarations[1].parameters.properties[0].value.any_of[1]",
            "description": 'Invalid JSON payload received. Unknown name "const" at '
            "'tools[0].function_declarations[1].parameters.properties[0].value.any_of[1]': Cannot find field.",
        },
    ]


def test_the_fake_takes_gemini_schemas_and_json_schemas_in_their_own_fields(fake: RunningFakeProvider) -> None:
    openapi = {
        "type": "OBJECT",
        "properties": {"city": {"type": "STRING", "nullable": True, "maxLength": "40"}},
        "required": ["city"],
        "propertyOrdering": ["city"],
    }
    plain = _gemini(fake, {"generationConfig": {"responseMimeType": "application/json", "responseSchema": openapi}})
    config = {"responseMimeType": "application/json", "responseJsonSchema": STRICT_SCHEMA}
    strict = _gemini(fake, {"generationConfig": config})

    assert plain.status_code == strict.status_code == 200, (plain.text, strict.text)
    assert json.loads(plain.json()["candidates"][0]["content"]["parts"][0]["text"]) == {"city": "fake"}
    assert json.loads(strict.json()["candidates"][0]["content"]["parts"][0]["text"]) == PERSON


@pytest.mark.parametrize("streamed", [False, True], ids=["unstreamed", "streamed"])
@pytest.mark.parametrize("reason", ["PROHIBITED_CONTENT", "SPII", "MALFORMED_FUNCTION_CALL", "SOMETHING_NEW"])
async def test_gemini_finish_reasons_reach_the_result_as_gemini_said(
    fake: RunningFakeProvider, client: ProviderClient, streamed: bool, reason: str
) -> None:
    call = _call(ChatOptions(), text=f"hello [fake finish_reason={reason}]")
    result = await _complete(fake, client, call, streamed=streamed)

    assert result.finish_reason == reason


@pytest.mark.parametrize("streamed", [False, True], ids=["unstreamed", "streamed"])
async def test_the_old_field_is_refused_and_the_adapter_does_not_retry_it(
    fake: RunningFakeProvider, client: ProviderClient, monkeypatch: pytest.MonkeyPatch, streamed: bool
) -> None:
    """What the adapters sent before (`responseSchema`, as OpenAI sent it): Gemini's 400, a refusal of the
    request that fails the job at once, never a failure to retry."""
    old = {"responseMimeType": "application/json", "responseSchema": STRICT_SCHEMA}
    monkeypatch.setattr(translate_gemini, "generation_fields", lambda _options: old)

    with pytest.raises(ProviderRejected) as caught:
        await _complete(fake, client, _call(ChatOptions()), streamed=streamed)

    assert (caught.value.status, caught.value.retriable, caught.value.code) == (400, False, "invalid_request")
    assert 'Unknown name "additionalProperties"' in caught.value.message


def test_the_sampler_follows_local_refs_and_stops_on_cycles() -> None:
    tree = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
            }
        },
        "$ref": "#/$defs/Node",
    }
    escaped = {"properties": {"a~b/c": {"type": "integer"}, "r": {"$ref": "#/properties/a~0b~1c"}}}

    assert features.sample(STRICT_SCHEMA) == PERSON
    assert features.sample(tree) == {
        "name": "fake",
        "children": [{"name": "fake", "children": [{"name": "fake", "children": []}]}],
    }
    assert features.sample(escaped) == {"a~b/c": 1, "r": 1}
    assert features.sample({"$ref": "https://example.com/schema.json"}) is None
    assert features.sample({"anyOf": [{"type": "null"}, {"const": "x"}]}) == "x"
