"""Which OpenAI parameters each model can honour: its provider kind's defaults, or the catalogue entry's own list.

A parameter a model's provider has no equivalent for is refused at the door (400, naming the parameter and
the model) before anything is held or charged; one it has an equivalent for is translated by the worker's
adapter. `user` is accepted everywhere: it only labels the caller for abuse tracking, and is forwarded where
the provider has a field for it (OpenAI `user`, Anthropic `metadata.user_id`) and dropped elsewhere; so is its
successor `safety_identifier`, and the caching hint `prompt_cache_key` (neither is a capability).
`reasoning_effort` and `verbosity` only mean something to a reasoning model: no provider kind has them by
default, a catalogue entry lists them (`openai/gpt-5`).
"""

from __future__ import annotations

from typing import Literal, get_args

Parameter = Literal[
    "tools",
    "tool_choice",
    "response_format",
    "response_format.json_schema",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "n",
    "logprobs",
    "top_logprobs",
    "user",
    "reasoning_effort",
    "verbosity",
]
ALL_PARAMETERS: frozenset[str] = frozenset(get_args(Parameter))
# A non-reasoning OpenAI model refuses these upstream: only the entries of reasoning models list them.
REASONING_PARAMETERS: frozenset[str] = frozenset({"reasoning_effort", "verbosity"})

# What each wire format can express. OpenAI-compatible servers differ (vLLM does nearly all, Ollama a subset,
# see the external contracts): the default is the subset all three document; a catalogue entry may widen it.
KIND_PARAMETERS: dict[str, frozenset[str]] = {
    "openai": ALL_PARAMETERS - REASONING_PARAMETERS,
    "openai_compatible": frozenset(
        {
            "tools",
            "tool_choice",
            "response_format",
            "response_format.json_schema",
            "seed",
            "frequency_penalty",
            "presence_penalty",
            "user",
        }
    ),
    # Anthropic: tools as tool_use / tool_result blocks; no seed, penalties, logit_bias, n > 1, logprobs or
    # JSON mode in the Messages API.
    "anthropic": frozenset({"tools", "tool_choice", "user"}),
    # Gemini: functionDeclarations, responseMimeType/responseSchema, candidateCount, seed, penalties.
    "gemini": frozenset(
        {
            "tools",
            "tool_choice",
            "response_format",
            "response_format.json_schema",
            "seed",
            "frequency_penalty",
            "presence_penalty",
            "n",
            "user",
        }
    ),
}


def supported(kind: str, declared: tuple[str, ...] | None) -> frozenset[str]:
    """The parameters a model supports: its catalogue entry's list when it has one, else its provider kind's."""
    if declared is not None:
        return frozenset(declared) | {"user"}
    return KIND_PARAMETERS.get(kind, frozenset({"user"}))


def unsupported(used: list[str], kind: str, declared: tuple[str, ...] | None) -> list[str]:
    """The parameters of `used` the model cannot honour, in the order given."""
    allowed = supported(kind, declared)
    return [name for name in used if name not in allowed]
