"""Tools, tool results, JSON schema and n choices through each adapter, over real HTTP against the fake provider:
the exact translated request, and the answer's tool calls and choices read back."""

from __future__ import annotations

import json

from fakeprovider.testing import RunningFakeProvider
from schemas.chat_options import ChatOptions, FunctionCall, ToolCall, ToolDefinition
from schemas.events import PromptMessage
from tests.provider_harness import (
    clean_fake_fixture,  # noqa: F401
    client_fixture,  # noqa: F401
    fake_config,
    fake_fixture,  # noqa: F401
    only_request,
)
from workers.providers.anthropic import AnthropicAdapter
from workers.providers.base import ProviderCall
from workers.providers.client import ProviderClient
from workers.providers.gemini import GeminiAdapter
from workers.providers.openai import OpenAIAdapter
from workers.providers.openai_compatible import OpenAICompatibleAdapter

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOL = ToolDefinition.model_validate(
    {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": SCHEMA}}
)
CALL = ToolCall(id="call_7", function=FunctionCall(name="get_weather", arguments='{"city": "Dhaka"}'))
ASKED = (PromptMessage(role="system", content="Be brief."), PromptMessage(role="user", content="Weather?"))
ANSWERED = (
    *ASKED,
    PromptMessage(role="assistant", content="", tool_calls=(CALL,)),
    PromptMessage(role="tool", content="31C", tool_call_id="call_7"),
)


def call(model: str, messages: tuple[PromptMessage, ...], options: ChatOptions) -> ProviderCall:
    return ProviderCall(upstream_model=model, messages=messages, max_tokens=40, options=options)


async def test_openai_passes_tools_and_reads_tool_calls(fake: RunningFakeProvider, client: ProviderClient) -> None:
    adapter = OpenAIAdapter(fake_config(fake, client, name="openai", path="/openai/v1", api_key="sk-test"))
    options = ChatOptions(tools=(TOOL,), tool_choice="required", seed=3, n=2, parallel_tool_calls=False)
    result = await adapter.complete(call("gpt-4.1-mini", ASKED, options))

    sent = only_request(fake)["json"]
    assert sent["tools"] == [TOOL.model_dump(mode="json", exclude_none=True)]
    assert (sent["tool_choice"], sent["seed"], sent["n"], sent["parallel_tool_calls"]) == ("required", 3, 2, False)
    assert [c.finish_reason for c in result.choices] == ["tool_calls", "tool_calls"]
    assert json.loads(result.choices[1].tool_calls[0].function.arguments) == {"city": "fake"}


async def test_anthropic_sends_tool_use_and_tool_result_blocks(
    fake: RunningFakeProvider, client: ProviderClient
) -> None:
    adapter = AnthropicAdapter(fake_config(fake, client, name="anthropic", path="/anthropic", api_key="sk-ant"))
    options = ChatOptions(tools=(TOOL,), tool_choice="auto", parallel_tool_calls=False, user="u-1")
    result = await adapter.complete(call("claude-sonnet-4", ANSWERED, options))

    sent = only_request(fake)["json"]
    assert sent["system"] == "Be brief."
    assert sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "call_7", "name": "get_weather", "input": {"city": "Dhaka"}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_7", "content": "31C"}]},
    ]
    assert sent["tools"] == [{"name": "get_weather", "description": "Weather", "input_schema": SCHEMA}]
    assert sent["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert sent["metadata"] == {"user_id": "u-1"}
    assert result.text == "The tool answered: 31C" and result.choices == ()


async def test_gemini_sends_function_parts_schema_and_candidate_count(
    fake: RunningFakeProvider, client: ProviderClient
) -> None:
    adapter = GeminiAdapter(fake_config(fake, client, name="gemini", path="/gemini", api_key="AIza"))
    options = ChatOptions(
        tools=(TOOL,),
        tool_choice="none",
        n=2,
        seed=5,
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        response_format={"type": "json_schema", "json_schema": {"name": "w", "schema": SCHEMA}},  # type: ignore[arg-type]
    )
    result = await adapter.complete(call("gemini-2.5-flash", ANSWERED, options))

    sent = only_request(fake)["json"]
    assert sent["contents"][1:] == [
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Dhaka"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"content": "31C"}}}]},
    ]
    assert sent["tools"] == [
        {"functionDeclarations": [{"name": "get_weather", "description": "Weather", "parametersJsonSchema": SCHEMA}]}
    ]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}}
    config = sent["generationConfig"]
    assert (config["candidateCount"], config["seed"], config["presencePenalty"], config["frequencyPenalty"]) == (
        2,
        5,
        0.5,
        -0.5,
    )
    assert (config["responseMimeType"], config["responseJsonSchema"]) == ("application/json", SCHEMA)
    # JSON schema wins over the tool result when both are asked: a sample of the schema, twice.
    assert [json.loads(c.text or "") for c in result.choices] == [{"city": "fake"}, {"city": "fake"}]


NAMED = (
    PromptMessage(role="system", content="Be brief.", name="rules"),
    PromptMessage(role="user", content="Weather?", name="ann_1"),
)


async def test_a_participant_name_goes_to_chat_completions_wires_and_is_left_out_elsewhere(
    fake: RunningFakeProvider, client: ProviderClient
) -> None:
    wired = [
        ("gpt-4.1-mini", OpenAIAdapter(fake_config(fake, client, name="openai", path="/openai/v1", api_key="sk"))),
        ("llama", OpenAICompatibleAdapter(fake_config(fake, client, name="llama", path="/vllm/v1", api_key=None))),
    ]
    for model, adapter in wired:
        fake.reset()
        await adapter.complete(call(model, NAMED, ChatOptions()))
        assert only_request(fake)["json"]["messages"] == [
            {"role": "system", "content": "Be brief.", "name": "rules"},
            {"role": "user", "content": "Weather?", "name": "ann_1"},
        ]
    # Anthropic and Gemini have no participant name: the message goes without it, the call is not refused.
    unnamed = [
        (
            "claude-sonnet-4",
            AnthropicAdapter(fake_config(fake, client, name="anthropic", path="/anthropic", api_key="k")),
        ),
        ("gemini-2.5-flash", GeminiAdapter(fake_config(fake, client, name="gemini", path="/gemini", api_key="AIza"))),
    ]
    for model, adapter in unnamed:
        fake.reset()
        result = await adapter.complete(call(model, NAMED, ChatOptions()))
        sent = json.dumps(only_request(fake)["json"])
        assert "Weather?" in sent and "ann_1" not in sent and "rules" not in sent
        assert result.text
