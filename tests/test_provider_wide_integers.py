"""Integers beyond 64 bits in provider answers and in tool call arguments, per wire format, over real HTTP against
the fake provider (which writes them exactly, as a provider could).

orjson would read such an integer as a float: a tool call's arguments object (Anthropic `tool_use.input`, Gemini
`functionCall.args`) would reach the caller with 1.1805916207174113e+21 in place of the number the model wrote.
Each is a protocol error for that one call instead (the pool ends it as a 502 upstream_error, charged nothing);
integers up to 2**64-1 travel exactly.
"""

from __future__ import annotations

import json

import pytest

from fakeprovider.testing import RunningFakeProvider
from schemas.chat_options import ChatOptions, FunctionCall, ToolCall, ToolDefinition
from schemas.errors import ErrorCode
from schemas.events import PromptMessage
from tests.provider_harness import (
    clean_fake_fixture,  # noqa: F401
    client_fixture,  # noqa: F401
    fake_fixture,  # noqa: F401
    provider_call,
)
from tests.test_provider_hostile import BY_NAME, WIRES, Wire, adapter
from tests.test_provider_streams import KINDS
from tests.test_provider_streams import adapter as stream_adapter
from workers.execution import job_code
from workers.providers.base import ProviderCall, ProviderProtocolError, ProviderRejected
from workers.providers.client import ProviderClient
from workers.providers.streams.contract import StreamPiece

WIDE = 2**70
WIDE_ARGUMENTS = '{"n": 1180591620717411303425}'  # 2**70 + 1
TOOLS = ChatOptions(
    tools=(
        ToolDefinition.model_validate(
            {
                "type": "function",
                "function": {
                    "name": "count",
                    "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}},
                },
            }
        ),
    )
)
OBJECT_ARGUMENTS = [wire for wire in WIRES if wire.name in ("anthropic", "gemini")]


def tool_call(wire: Wire, *messages: PromptMessage) -> ProviderCall:
    history = messages or (PromptMessage(role="user", content="count please"),)
    return provider_call(wire.model, (), 64, options=TOOLS, messages=history)


@BY_NAME
async def test_a_usage_count_beyond_64_bits_is_a_protocol_error_naming_it(
    wire: Wire, fake: RunningFakeProvider, client: ProviderClient
) -> None:
    fake.set_scenario(wire.model, usage_output_tokens=WIDE)

    with pytest.raises(ProviderProtocolError) as caught:
        await adapter(wire, fake, client).complete(provider_call(wire.model, (("user", "hi"),), 50))

    assert f"integer {WIDE} is outside the 64-bit range" in caught.value.message
    assert caught.value.retriable is True
    assert job_code(caught.value) is ErrorCode.UPSTREAM_ERROR


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini"])
async def test_a_streamed_usage_count_beyond_64_bits_is_a_protocol_error(
    kind: str, fake: RunningFakeProvider, client: ProviderClient
) -> None:
    fake.set_scenario(KINDS[kind][3], usage_output_tokens=WIDE)

    async def sink(piece: StreamPiece) -> None:
        pass

    with pytest.raises(ProviderProtocolError, match="outside the 64-bit range"):
        await stream_adapter(kind, fake, client).stream(provider_call(KINDS[kind][3], (("user", "x"),), 12), sink)


@pytest.mark.parametrize("wire", OBJECT_ARGUMENTS, ids=[wire.name for wire in OBJECT_ARGUMENTS])
async def test_tool_arguments_beyond_64_bits_in_an_answer_are_a_protocol_error_not_a_float(
    wire: Wire, fake: RunningFakeProvider, client: ProviderClient
) -> None:
    fake.set_scenario(wire.model, tool_arguments=WIDE_ARGUMENTS)
    sent = fake.recorded_requests()

    with pytest.raises(ProviderProtocolError, match="1180591620717411303425 is outside the 64-bit range"):
        await adapter(wire, fake, client).complete(tool_call(wire))

    assert len(fake.recorded_requests()) == len(sent) + 1


@BY_NAME
async def test_tool_arguments_at_the_64_bit_bounds_arrive_exactly(
    wire: Wire, fake: RunningFakeProvider, client: ProviderClient
) -> None:
    fake.set_scenario(wire.model, tool_arguments=json.dumps({"hi": 2**64 - 1, "lo": -(2**63)}))

    result = await adapter(wire, fake, client).complete(tool_call(wire))

    [call] = result.choices[0].tool_calls
    assert json.loads(call.function.arguments) == {"hi": 2**64 - 1, "lo": -(2**63)}


def history_with_arguments(arguments: str) -> tuple[PromptMessage, ...]:
    """A conversation whose assistant turn called a tool with `arguments` (text the caller sends back)."""
    called = ToolCall(id="call_1", function=FunctionCall(name="count", arguments=arguments))
    return (
        PromptMessage(role="user", content="count please"),
        PromptMessage(role="assistant", content="", tool_calls=(called,)),
        PromptMessage(role="tool", content="done", tool_call_id="call_1"),
    )


async def test_anthropic_refuses_to_send_history_arguments_beyond_64_bits(
    fake: RunningFakeProvider, client: ProviderClient
) -> None:
    [wire] = [wire for wire in WIRES if wire.name == "anthropic"]
    sent = fake.recorded_requests()

    with pytest.raises(ProviderRejected, match="call_1's arguments: 'n': integer 1180591620717411303425"):
        await adapter(wire, fake, client).complete(tool_call(wire, *history_with_arguments(WIDE_ARGUMENTS)))

    assert fake.recorded_requests() == sent, "nothing was sent"


async def test_gemini_sends_history_arguments_beyond_64_bits_as_their_exact_text(
    fake: RunningFakeProvider, client: ProviderClient
) -> None:
    [wire] = [wire for wire in WIRES if wire.name == "gemini"]

    await adapter(wire, fake, client).complete(tool_call(wire, *history_with_arguments(WIDE_ARGUMENTS)))

    contents = fake.recorded_requests()[-1]["json"]["contents"]
    [call] = [part["functionCall"] for turn in contents for part in turn["parts"] if "functionCall" in part]
    assert call == {"name": "count", "args": {"arguments": WIDE_ARGUMENTS}}
