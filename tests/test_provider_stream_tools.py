"""Tool calls in each streaming adapter, over real HTTP against the fake provider's streams.

Each wire format streams tool calls its own way (OpenAI `delta.tool_calls`, Anthropic `tool_use` blocks with
`input_json_delta`, Gemini whole `functionCall` parts); every adapter hands on the same pieces (numbered from 0,
id and name first) and ends with the same tool calls as the unstreamed adapter reads from the same answer.
Hostile pieces (NUL, huge arguments, an absurd index) cost only the call that got them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from fakeprovider.testing import RunningFakeProvider
from schemas.chat_options import TOOL_ARGUMENTS_CHARS_MAX, ChatOptions, ToolCallDelta, ToolDefinition
from tests.provider_harness import (
    clean_fake_fixture,  # noqa: F401
    client_fixture,  # noqa: F401
    fake_config,
    fake_fixture,  # noqa: F401
    provider_call,
)
from tests.test_provider_streams import KINDS, adapter
from workers.providers.base import ProviderCall, ProviderProtocolError, ProviderResult
from workers.providers.client import ProviderClient
from workers.providers.registry import build_adapter

TOOLS = ChatOptions(
    tools=(
        ToolDefinition.model_validate(
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
                        "required": ["city"],
                    },
                },
            }
        ),
        ToolDefinition.model_validate(
            {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
        ),
    )
)
# The tool calls' ids each format gives the fake's calls, unstreamed and streamed alike.
IDS = {
    "openai": ["call_fake_0", "call_fake_0_1"],
    "openai_compatible": ["call_fake_0", "call_fake_0_1"],
    "anthropic": ["toolu_fake_0", "toolu_fake_1"],
    "gemini": ["call_0_0", "call_0_1"],
}
FINISH = {"openai": "tool_calls", "openai_compatible": "tool_calls", "anthropic": "tool_use", "gemini": "tool_calls"}


def _call(kind: str, text: str = "weather please", **overrides: object) -> ProviderCall:
    return provider_call(KINDS[kind][3], (("user", text),), 64, options=TOOLS, **overrides)


async def _stream(
    kind: str, fake: RunningFakeProvider, client: ProviderClient, text: str = "weather please"
) -> tuple[list[str | ToolCallDelta], ProviderResult]:
    pieces: list[str | ToolCallDelta] = []

    async def sink(piece: str | ToolCallDelta) -> None:
        pieces.append(piece)

    result = await adapter(kind, fake, client).stream(_call(kind, text), sink)
    return pieces, result


def _assembled(pieces: list[str | ToolCallDelta]) -> list[dict[str, Any]]:
    """The calls as a client rebuilds them from the pieces (OpenAI's SDKs: by index, strings concatenated)."""
    calls: list[dict[str, Any]] = []
    for piece in pieces:
        if isinstance(piece, str):
            continue
        if piece.index == len(calls):
            assert piece.id is not None and piece.name is not None, "a call's first piece names it"
            calls.append({"id": piece.id, "name": piece.name, "arguments": piece.arguments})
        else:
            assert piece.id is None and piece.name is None, "id and name come once"
            calls[piece.index]["arguments"] += piece.arguments
    return calls


@pytest.mark.parametrize("kind", list(KINDS))
async def test_parallel_tool_calls_stream_as_numbered_pieces(
    kind: str, fake: RunningFakeProvider, client: ProviderClient
) -> None:
    fake.set_scenario(KINDS[kind][3], tool_calls_each=True, tool_text="Let me check.", stream_chunk_chars=5)
    pieces, result = await _stream(kind, fake, client)
    sent = fake.recorded_requests()[-1]["json"]
    assert sent.get("tools"), "the tools reach the provider on a streamed call"
    text = "".join(piece for piece in pieces if isinstance(piece, str))
    assert text == result.text == "Let me check."
    calls = _assembled(pieces)
    assert [c["id"] for c in calls] == IDS[kind]
    assert [c["name"] for c in calls] == ["get_weather", "get_time"]
    assert [json.loads(c["arguments"]) for c in calls] == [{"city": "fake", "unit": "celsius"}, {}]
    if kind != "gemini":  # Gemini sends a call whole; the others split the arguments
        assert len([p for p in pieces if isinstance(p, ToolCallDelta)]) > 4
    [choice] = result.choices
    assert [(c.id, c.function.name, c.function.arguments) for c in choice.tool_calls] == [
        (c["id"], c["name"], c["arguments"]) for c in calls
    ]
    assert result.finish_reason == choice.finish_reason == FINISH[kind]
    # The unstreamed adapter reads the same calls from the same answer.
    path, _, key, _ = KINDS[kind]
    unstreamed = await build_adapter(kind, fake_config(fake, client, name=kind, path=path, api_key=key)).complete(  # type: ignore[arg-type]
        _call(kind)
    )
    assert [c.model_dump() for c in unstreamed.choices[0].tool_calls] == [c.model_dump() for c in choice.tool_calls]
    assert unstreamed.finish_reason == result.finish_reason
    assert (unstreamed.input_tokens, unstreamed.output_tokens) == (result.input_tokens, result.output_tokens)


@pytest.mark.parametrize("kind", list(KINDS))
async def test_an_answer_that_is_only_a_tool_call(kind: str, fake: RunningFakeProvider, client: ProviderClient) -> None:
    pieces, result = await _stream(kind, fake, client)
    assert all(isinstance(piece, ToolCallDelta) for piece in pieces)
    assert result.text == ""
    arguments = json.dumps({"city": "fake", "unit": "celsius"})
    assert _assembled(pieces) == [{"id": IDS[kind][0], "name": "get_weather", "arguments": arguments}]


@pytest.mark.parametrize("kind", list(KINDS))
async def test_nul_in_arguments_is_replaced(kind: str, fake: RunningFakeProvider, client: ProviderClient) -> None:
    fake.set_scenario(KINDS[kind][3], tool_arguments='{"city": "a\x00b"}')
    pieces, result = await _stream(kind, fake, client)
    arguments = result.choices[0].tool_calls[0].function.arguments
    assert "\x00" not in arguments and "\x00" not in "".join(str(p) for p in pieces)
    # Gemini's arguments are an object, re-encoded here: its NUL arrives escaped (`\u0000`), never raw.
    assert json.loads(arguments) == {"city": "a\x00b" if kind == "gemini" else "a\ufffdb"}


@pytest.mark.parametrize("kind", list(KINDS))
async def test_huge_arguments_fail_the_call(kind: str, fake: RunningFakeProvider, client: ProviderClient) -> None:
    fake.set_scenario(KINDS[kind][3], tool_arguments='{"blob": "' + "x" * TOOL_ARGUMENTS_CHARS_MAX + '"}')
    with pytest.raises(ProviderProtocolError, match="arguments are longer") as failed:
        await _stream(kind, fake, client)
    assert failed.value.retriable is False


@pytest.mark.parametrize("kind", ["openai", "openai_compatible", "anthropic"])
async def test_an_index_that_is_not_a_number_is_a_protocol_error(
    kind: str, fake: RunningFakeProvider, client: ProviderClient
) -> None:
    fake.set_scenario(KINDS[kind][3], tool_call_index="7")
    with pytest.raises(ProviderProtocolError, match="index"):
        await _stream(kind, fake, client)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_an_absurd_index_is_renumbered(kind: str, fake: RunningFakeProvider, client: ProviderClient) -> None:
    fake.set_scenario(KINDS[kind][3], tool_call_index=2**40)
    pieces, result = await _stream(kind, fake, client)
    assert {piece.index for piece in pieces if isinstance(piece, ToolCallDelta)} == {0}
    assert json.loads(result.choices[0].tool_calls[0].function.arguments) == {"city": "fake", "unit": "celsius"}
