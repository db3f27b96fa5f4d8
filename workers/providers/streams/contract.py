"""What a streaming adapter promises: deltas handed to a sink as they arrive, then one ProviderResult.

The result's `text` is the whole answer, the concatenation of every delta; each delta, like the answer, has
no NUL (each became U+FFFD); counts keep the non-streamed adapters' promises (integers 0..TOKEN_COUNT_MAX).
A failure before the first delta is an ordinary ProviderError (the pool may retry it); after it, the caller
has seen text, so the pool ends the job instead (workers/streaming.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from workers.providers.base import ProviderCall, ProviderResult
from workers.providers.wire import answer_text

DeltaSink = Callable[[str], Awaitable[None]]


class StreamAdapter(Protocol):
    name: str

    async def stream(self, call: ProviderCall, on_delta: DeltaSink) -> ProviderResult: ...


class Answer:
    """The answer so far: each piece made safe, kept, and handed on."""

    def __init__(self, on_delta: DeltaSink) -> None:
        self._on_delta = on_delta
        self._pieces: list[str] = []

    async def add(self, piece: str) -> None:
        if piece:
            piece = answer_text(piece)
            self._pieces.append(piece)
            await self._on_delta(piece)

    @property
    def text(self) -> str:
        return "".join(self._pieces)
