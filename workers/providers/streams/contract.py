"""What a streaming adapter promises: pieces handed to a sink as they arrive, then one ProviderResult.

A piece is text or a piece of a tool call (schemas.chat_options.ToolCallDelta, numbered and bounded by
streams/tool_calls.py). The result's `text` is the whole answer, the concatenation of every text piece; its
`choices` hold the tool calls, each the concatenation of its pieces, as an unstreamed answer's would. Pieces,
like the answer, have no NUL (each became U+FFFD); counts keep the non-streamed adapters' promises (integers
0..TOKEN_COUNT_MAX). A failure before the first piece is an ordinary ProviderError (the pool may retry it);
after it, the caller has seen part of the answer, so the pool ends the job instead (workers/streaming.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from schemas.chat_options import ResultChoice, ToolCallDelta
from workers.providers.base import ProviderCall, ProviderResult
from workers.providers.streams.tool_calls import ToolCalls
from workers.providers.wire import answer_text

StreamPiece = str | ToolCallDelta
DeltaSink = Callable[[StreamPiece], Awaitable[None]]


class StreamAdapter(Protocol):
    name: str

    async def stream(self, call: ProviderCall, on_delta: DeltaSink) -> ProviderResult: ...


class Answer:
    """The answer so far: each piece made safe, kept, and handed on."""

    def __init__(self, provider: str, on_delta: DeltaSink) -> None:
        self._on_delta = on_delta
        self._pieces: list[str] = []
        self.tool_calls = ToolCalls(provider)

    async def add(self, piece: str) -> None:
        if piece:
            piece = answer_text(piece)
            self._pieces.append(piece)
            await self._on_delta(piece)

    async def tool_call(
        self, key: object, *, call_id: str | None = None, name: str | None = None, arguments: str = ""
    ) -> None:
        """A fragment of the tool call the provider keys `key`; raises ProviderProtocolError past the bounds."""
        piece = self.tool_calls.fragment(key, call_id=call_id, name=name, arguments=arguments)
        if piece is not None:
            await self._on_delta(piece)

    async def close_tool_call(self, key: object) -> None:
        piece = self.tool_calls.closed(key)
        if piece is not None:
            await self._on_delta(piece)

    @property
    def text(self) -> str:
        return "".join(self._pieces)

    def choices(self, finish_reason: str | None) -> tuple[ResultChoice, ...]:
        """The answer as a choice when it called tools (else (): the text says it all), as unstreamed."""
        calls = self.tool_calls.calls()
        if not calls:
            return ()
        return (ResultChoice(index=0, text=self.text or None, finish_reason=finish_reason, tool_calls=calls),)
