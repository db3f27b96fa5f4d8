"""Which adapter class speaks each provider kind of the catalogue."""

from __future__ import annotations

from collections.abc import Callable

from schemas.catalogue import ProviderKind
from workers.providers.anthropic import AnthropicAdapter
from workers.providers.base import ProviderAdapter, ProviderConfig
from workers.providers.gemini import GeminiAdapter
from workers.providers.openai import OpenAIAdapter
from workers.providers.openai_compatible import OpenAICompatibleAdapter

ADAPTERS: dict[str, Callable[[ProviderConfig], ProviderAdapter]] = {
    "openai": OpenAIAdapter,
    "anthropic": AnthropicAdapter,
    "gemini": GeminiAdapter,
    "openai_compatible": OpenAICompatibleAdapter,
}


def build_adapter(kind: ProviderKind, config: ProviderConfig) -> ProviderAdapter:
    """The adapter for one configured provider; an unknown kind is a programming error."""
    return ADAPTERS[kind](config)
