"""Deterministic token counts and answers of the fake provider.

Rule (documented so tests and the gateway can predict it):

- input tokens = sum over prompt messages (a top-level system prompt counts as one message) of
  ``len(content.split()) + 3``, and at least 1; plus, for a Llama 3 model (upstream name containing
  "llama"), what its chat template adds as a real vLLM server counts it: ``LLAMA3_TEMPLATE_FIXED`` per prompt
  (``<|begin_of_text|>``, the default system header with its knowledge and today dates, the assistant header
  that primes the answer) and ``LLAMA3_TEMPLATE_PER_MESSAGE`` more per message (role header and ``<|eot_id|>``);
- the answer is ``"Echo:"`` followed by the words of the last user message (scenario directives removed),
  padded with the word ``"echo"`` and cut to exactly the output token count, joined by single spaces;
  so output tokens == ``len(answer.split())``;
- output tokens = ``min(max_tokens, wanted)`` where ``wanted`` is the scenario's ``output_tokens`` or
  ``DEFAULT_OUTPUT_TOKENS``.

Every whitespace-separated word is at least one UTF-8 byte, so the gateway's prompt ceiling (UTF-8 bytes plus
the catalogue's template overhead per prompt and per message) is never below what the fake bills, provided the
catalogue's overhead for a model covers its template: the Llama overhead here is what makes that testable.
"""

from __future__ import annotations

from collections.abc import Iterable

DEFAULT_OUTPUT_TOKENS = 16
TOKENS_PER_MESSAGE = 3
LLAMA3_TEMPLATE_FIXED = 29
LLAMA3_TEMPLATE_PER_MESSAGE = 2
ANSWER_PREFIX = "Echo:"
ANSWER_PAD_WORD = "echo"


def count_prompt_tokens(message_texts: Iterable[str], model: str = "") -> int:
    """Input tokens for a prompt given as one text per message (system prompt included), sent to `model`."""
    total = 0
    messages = 0
    for text in message_texts:
        total += len(text.split()) + TOKENS_PER_MESSAGE
        messages += 1
    if "llama" in model.lower():
        total += LLAMA3_TEMPLATE_FIXED + LLAMA3_TEMPLATE_PER_MESSAGE * messages
    return max(total, 1)


def answer_text(last_user_text: str, output_tokens: int) -> str:
    """The answer of exactly `output_tokens` words, echoing the last user message."""
    if output_tokens <= 0:
        return ""
    words = [ANSWER_PREFIX, *last_user_text.split()[: output_tokens - 1]]
    words.extend([ANSWER_PAD_WORD] * (output_tokens - len(words)))
    return " ".join(words)


def output_token_count(max_tokens: int, wanted: int | None) -> int:
    """How many tokens the fake emits: what the scenario wants, cut at the request's bound."""
    return max(0, min(max_tokens, DEFAULT_OUTPUT_TOKENS if wanted is None else wanted))
