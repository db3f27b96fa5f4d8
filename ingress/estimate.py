"""Upper bounds on prompt tokens, for holds: a hold must never be smaller than what the call can cost.

Byte-level BPE tokenizers (GPT, Llama, Claude, Gemini's SentencePiece with byte fallback) never produce
more tokens than the text has UTF-8 bytes. The provider's chat template adds tokens of its own (special
tokens, role headers, Llama 3.1's default system header with its dates): the catalogue names them per model,
once per prompt and once per message. Bytes plus that overhead is a safe ceiling; holds are released to the
real usage at settlement.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.catalogue import ModelEntry


def input_tokens_ceiling(contents: Sequence[str], model: ModelEntry) -> int:
    """The most prompt tokens `model` can bill for these messages (one text per message)."""
    total = model.template_tokens_fixed
    for content in contents:
        total += len(content.encode("utf-8")) + model.template_tokens_per_message
    return total


def route_input_tokens_ceiling(contents: Sequence[str], models: Sequence[ModelEntry]) -> int:
    """The ceiling over every model of a route: whichever model answers, its prompt is within the hold."""
    return max(input_tokens_ceiling(contents, model) for model in models)


def input_tokens_floor(contents: Sequence[str]) -> int:
    """A generous lower bound (about four bytes a token), used to refuse prompts surely over a context."""
    return sum(len(content.encode("utf-8")) for content in contents) // 8
