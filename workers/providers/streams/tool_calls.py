"""A streamed answer's tool calls, assembled from the provider's fragments: renumbered, bounded, made storable.

Providers number a stream's tool calls their own way: OpenAI by `index` in `delta.tool_calls`, Anthropic by the
content block (shared with text blocks), Gemini not at all (each `functionCall` part comes whole). Here each call
takes the next position (0, 1, ...) in order of its first fragment, and that position is the `index` callers see
(OpenAI's SDKs index a list with it). A call's id and name are taken from its first fragment and sent once: a
server that repeats them on every fragment would otherwise make clients that concatenate fragments (OpenAI's
SDKs do) read `call_1call_1`. A call whose first fragment has no id gets `call_<position>`, as unstreamed answers.

A hostile stream costs its own job only: more than TOOL_CALLS_PER_MESSAGE_MAX calls, arguments longer than
TOOL_ARGUMENTS_CHARS_MAX, an id or name longer than IDENTIFIER_CHARS_MAX are protocol errors (the pool ends the
job, nothing charged); NUL becomes U+FFFD in every piece.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.chat_options import (
    TOOL_ARGUMENTS_CHARS_MAX,
    TOOL_CALLS_PER_MESSAGE_MAX,
    AnsweredFunction,
    AnsweredToolCall,
    ToolCallDelta,
)
from workers.providers.base import ProviderProtocolError
from workers.providers.errors import ANSWER_TOO_LARGE, PROTOCOL_ERROR, safe_message
from workers.providers.wire import answer_text

# A tool call's id or function name: OpenAI's are tens of characters; a longer one is not an identifier.
IDENTIFIER_CHARS_MAX = 256


@dataclass(slots=True)
class _Call:
    position: int
    id: str
    name: str
    arguments: list[str] = field(default_factory=list)
    arguments_chars: int = 0


class ToolCalls:
    """The calls so far, by the provider's own key (an index, a block number, a counter)."""

    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._calls: dict[object, _Call] = {}

    def fragment(
        self, key: object, *, call_id: str | None = None, name: str | None = None, arguments: str = ""
    ) -> ToolCallDelta | None:
        """The piece to hand on for this fragment (None when it adds nothing); raises ProviderProtocolError."""
        call = self._calls.get(key)
        first = call is None
        if call is None:
            if len(self._calls) >= TOOL_CALLS_PER_MESSAGE_MAX:
                raise self._refused(f"the answer asks for more than {TOOL_CALLS_PER_MESSAGE_MAX} tool calls")
            position = len(self._calls)
            call = _Call(position, self._identifier(call_id or f"call_{position}"), self._identifier(name or ""))
            self._calls[key] = call
        if arguments:
            call.arguments_chars += len(arguments)
            if call.arguments_chars > TOOL_ARGUMENTS_CHARS_MAX:
                raise ProviderProtocolError(
                    safe_message(
                        f"{self._provider}: tool call {call.position}'s arguments are longer than "
                        f"{TOOL_ARGUMENTS_CHARS_MAX} characters"
                    ),
                    retriable=False,
                    code=ANSWER_TOO_LARGE,
                )
            arguments = answer_text(arguments)
            call.arguments.append(arguments)
        if first:
            return ToolCallDelta(index=call.position, id=call.id, name=call.name, arguments=arguments)
        return ToolCallDelta(index=call.position, arguments=arguments) if arguments else None

    def __len__(self) -> int:
        return len(self._calls)

    def started(self, key: object) -> bool:
        return key in self._calls

    def closed(self, key: object) -> ToolCallDelta | None:
        """A call that ended without arguments gets `{}` (as an unstreamed answer's empty input reads)."""
        call = self._calls.get(key)
        if call is None or call.arguments_chars:
            return None
        return self.fragment(key, arguments="{}")

    def calls(self) -> tuple[AnsweredToolCall, ...]:
        return tuple(
            AnsweredToolCall(id=c.id, function=AnsweredFunction(name=c.name, arguments="".join(c.arguments)))
            for c in self._calls.values()
        )

    def _identifier(self, value: str) -> str:
        if len(value) > IDENTIFIER_CHARS_MAX:
            raise self._refused(f"a tool call's id or name is longer than {IDENTIFIER_CHARS_MAX} characters")
        return answer_text(value)

    def _refused(self, problem: str) -> ProviderProtocolError:
        return ProviderProtocolError(safe_message(f"{self._provider}: {problem}"), retriable=True, code=PROTOCOL_ERROR)
