"""Upper bounds on prompt tokens, for holds: a hold must never be smaller than what the call can cost.

Byte-level BPE tokenizers (GPT, Llama, Claude, Gemini's SentencePiece with byte fallback) never produce
more tokens than the text has UTF-8 bytes, and chat templates add a few tokens per message. So bytes plus a
fixed overhead per message is a safe ceiling; holds are released to the real usage at settlement.
"""

from __future__ import annotations

from collections.abc import Iterable

TOKENS_PER_MESSAGE_MAX = 4
TOKENS_PER_PROMPT_MAX = 3


def input_tokens_ceiling(contents: Iterable[str]) -> int:
    total = TOKENS_PER_PROMPT_MAX
    for content in contents:
        total += len(content.encode("utf-8")) + TOKENS_PER_MESSAGE_MAX
    return total


def input_tokens_floor(contents: Iterable[str]) -> int:
    """A generous lower bound (about four bytes a token), used to refuse prompts surely over a context."""
    return sum(len(content.encode("utf-8")) for content in contents) // 8
