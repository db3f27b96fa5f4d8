"""Which streaming adapter speaks each provider kind of the catalogue."""

from __future__ import annotations

from schemas.catalogue import ProviderKind
from workers.providers.base import ProviderConfig
from workers.providers.streams.anthropic_stream import AnthropicStream
from workers.providers.streams.chat_stream import ChatCompletionsStream
from workers.providers.streams.contract import StreamAdapter
from workers.providers.streams.gemini_stream import GeminiStream


def build_stream_adapter(kind: ProviderKind, config: ProviderConfig) -> StreamAdapter:
    if kind == "anthropic":
        return AnthropicStream(config)
    if kind == "gemini":
        return GeminiStream(config)
    return ChatCompletionsStream(config, usage_required=kind == "openai")
