"""What a stream has sent of its answer's tool calls, and what it still owes once the billed answer is known.

The worker numbers a streamed answer's tool calls 0, 1, ... and sends each call's id and name on its first piece
(workers/providers/streams/tool_calls.py). Deltas are a preview, as for text: the billed answer's calls are the
truth, so what a lost or late delta missed is sent before the end, and pieces that do not lead to the billed calls
(another run of the job) end the stream with an error instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from schemas.chat_options import AnsweredToolCall, ToolCallDelta


@dataclass(slots=True)
class _Sent:
    id: str
    name: str
    arguments: list[str] = field(default_factory=list)


class SentToolCalls:
    def __init__(self) -> None:
        self._calls: list[_Sent] = []

    def __bool__(self) -> bool:
        return bool(self._calls)

    def record(self, pieces: Sequence[ToolCallDelta]) -> bool:
        """Keep a delta's pieces about to be sent; False, keeping none, if they do not continue what was sent."""
        started = len(self._calls)
        for piece in pieces:
            if piece.index == started and piece.id is not None:
                started += 1
            elif not (0 <= piece.index < started and piece.id is None):
                return False
        for piece in pieces:
            if piece.id is not None:
                self._calls.append(_Sent(piece.id, piece.name or "", [piece.arguments]))
            else:
                self._calls[piece.index].arguments.append(piece.arguments)
        return True

    def rest(self, calls: Sequence[AnsweredToolCall]) -> list[ToolCallDelta] | None:
        """The pieces that complete what was sent into `calls`; None when what was sent does not lead to them."""
        if len(self._calls) > len(calls):
            return None
        pieces = []
        for index, call in enumerate(calls):
            arguments = call.function.arguments
            if index >= len(self._calls):
                pieces.append(ToolCallDelta(index=index, id=call.id, name=call.function.name, arguments=arguments))
                continue
            sent = self._calls[index]
            sent_arguments = "".join(sent.arguments)
            if (sent.id, sent.name) != (call.id, call.function.name) or not arguments.startswith(sent_arguments):
                return None
            if len(arguments) > len(sent_arguments):
                pieces.append(ToolCallDelta(index=index, arguments=arguments[len(sent_arguments) :]))
        return pieces
