"""The pure rules of streamed tool calls: how the worker numbers and bounds a provider's fragments, and what the
ingress still owes a caller whose stream missed pieces (the billed answer is the truth)."""

from __future__ import annotations

import pytest

from ingress.stream_tool_calls import SentToolCalls
from schemas.chat_options import (
    TOOL_CALLS_PER_MESSAGE_MAX,
    AnsweredFunction,
    AnsweredToolCall,
    ToolCallDelta,
)
from workers.providers.base import ProviderProtocolError
from workers.providers.streams.tool_calls import IDENTIFIER_CHARS_MAX, ToolCalls


def _call(call_id: str, name: str, arguments: str) -> AnsweredToolCall:
    return AnsweredToolCall(id=call_id, function=AnsweredFunction(name=name, arguments=arguments))


def test_fragments_are_numbered_in_order_of_first_appearance_and_named_once() -> None:
    calls = ToolCalls("p")
    assert calls.fragment(7, call_id="a", name="f", arguments="") == ToolCallDelta(index=0, id="a", name="f")
    assert calls.fragment(3, name="g", arguments='{"x"') == ToolCallDelta(
        index=1, id="call_1", name="g", arguments='{"x"'
    )
    # A server repeating the id and name on every fragment: they are not sent again.
    assert calls.fragment(7, call_id="a", name="f", arguments="{}") == ToolCallDelta(index=0, arguments="{}")
    assert calls.fragment(7, arguments="") is None
    assert calls.fragment(3, arguments=": 1}") == ToolCallDelta(index=1, arguments=": 1}")
    assert calls.calls() == (_call("a", "f", "{}"), _call("call_1", "g", '{"x": 1}'))


def test_nul_becomes_the_replacement_character_in_every_part() -> None:
    calls = ToolCalls("p")
    piece = calls.fragment(0, call_id="i\x00d", name="n\x00", arguments="a\x00")
    assert piece == ToolCallDelta(index=0, id="i\ufffdd", name="n\ufffd", arguments="a\ufffd")


def test_a_call_closed_without_arguments_reads_an_empty_object() -> None:
    calls = ToolCalls("p")
    calls.fragment(0, call_id="t", name="f")
    assert calls.closed(0) == ToolCallDelta(index=0, arguments="{}")
    assert calls.closed(0) is None
    assert calls.closed(5) is None


def test_bounds_are_protocol_errors() -> None:
    many = ToolCalls("p")
    for key in range(TOOL_CALLS_PER_MESSAGE_MAX):
        many.fragment(key, call_id=f"c{key}", name="f")
    with pytest.raises(ProviderProtocolError, match="more than"):
        many.fragment("one more", call_id="x", name="f")
    with pytest.raises(ProviderProtocolError, match="longer than"):
        ToolCalls("p").fragment(0, call_id="x" * (IDENTIFIER_CHARS_MAX + 1), name="f")
    huge = ToolCalls("p")
    huge.fragment(0, call_id="x", name="f", arguments="a" * 200_000)
    with pytest.raises(ProviderProtocolError, match="arguments are longer") as failed:
        huge.fragment(0, arguments="a" * 100_000)
    assert failed.value.retriable is False


def test_what_a_stream_still_owes_comes_from_the_billed_calls() -> None:
    sent = SentToolCalls()
    assert sent.record((ToolCallDelta(index=0, id="a", name="f", arguments='{"ci'),))
    # Lost: the rest of call 0's arguments and the whole of call 1.
    billed = (_call("a", "f", '{"city": "x"}'), _call("b", "g", "{}"))
    assert sent.rest(billed) == [
        ToolCallDelta(index=0, arguments='ty": "x"}'),
        ToolCallDelta(index=1, id="b", name="g", arguments="{}"),
    ]
    assert SentToolCalls().rest(()) == []


def test_pieces_that_do_not_lead_to_the_billed_calls_are_refused() -> None:
    sent = SentToolCalls()
    assert not sent.record((ToolCallDelta(index=1, id="a", name="f"),))  # not the next call
    assert not sent.record((ToolCallDelta(index=0, arguments="x"),))  # more of a call never started
    assert not sent and sent.rest(()) == []
    assert sent.record((ToolCallDelta(index=0, id="a", name="f", arguments="{1"),))
    assert not sent.record((ToolCallDelta(index=0, arguments="2"), ToolCallDelta(index=-1, arguments="3")))
    assert sent.rest((_call("a", "f", "{1}"),)) == [ToolCallDelta(index=0, arguments="}")]  # nothing half-kept
    assert sent.rest((_call("a", "f", "{9}"),)) is None  # another run's arguments
    assert sent.rest((_call("b", "f", "{1}"),)) is None  # another call
    assert sent.rest(()) is None  # the billed answer has no call at all
