"""The adapter for OpenAI-compatible servers (vLLM, Ollama, llama.cpp): Chat Completions with local quirks.

Differences from OpenAI: the output bound is always `max_tokens` (the field all three accept); a Bearer
key is sent only when one is configured; every known error shape is read (see `chat_completions`); and
when a server omits `usage` the adapter counts tokens itself with a conservative rule and marks the result
`usage_estimated=True`:

- input tokens = sum over the messages sent of (UTF-8 bytes of the content + 4), at least 1;
- output tokens = UTF-8 bytes of the answer, at least 1, at most the call's `max_tokens`.

Byte-level BPE tokenizers (Llama 3, Qwen, Mistral's Tekken) never produce more text tokens than bytes, and
4 covers a message's chat-template tokens, so the estimate is an upper bound: a workspace is never billed
less than it used, and the ledger's hold estimate (same rule for input) is never exceeded by it.
"""

from __future__ import annotations

from collections.abc import Iterable

from workers.providers import translate_openai
from workers.providers.base import ProviderCall, ProviderConfig, ProviderResult
from workers.providers.chat_completions import chat_answer, chat_payload, chat_usage, raise_for_error
from workers.providers.errors import protocol_failure
from workers.providers.exchange import post_json, success_object
from workers.providers.wire import UsageCounts, WrongShapeError, fingerprint

TEMPLATE_TOKENS_PER_MESSAGE = 4


def estimate_input_tokens(contents: Iterable[str]) -> int:
    return max(1, sum(len(text.encode()) + TEMPLATE_TOKENS_PER_MESSAGE for text in contents))


def estimate_output_tokens(text: str, max_tokens: int) -> int:
    """Bytes of the answer; a model cannot exceed the bound, and even an empty answer cost a stop token."""
    return min(max(1, len(text.encode())), max_tokens)


class OpenAICompatibleAdapter:
    """`base_url` ends in `/v1` (e.g. http://127.0.0.1:8000/v1)."""

    def __init__(self, config: ProviderConfig) -> None:
        self.name = config.name
        self._config = config
        self._url = config.base_url.rstrip("/") + "/chat/completions"
        self._headers = {"content-type": "application/json"}
        if config.api_key:
            self._headers["authorization"] = f"Bearer {config.api_key}"

    async def complete(self, call: ProviderCall) -> ProviderResult:
        # max_tokens_field is ignored on purpose: every local server knows max_tokens, not all the newer name.
        payload = chat_payload(call, "max_tokens", openai_hints=False)
        response = await post_json(self._config, self._url, self._headers, payload, call.timeout_s)
        raise_for_error(response)
        body = success_object(self.name, response)
        try:
            text, finish, model = chat_answer(body)
            usage = chat_usage(body)
            choices = translate_openai.rich_choices(body)
        except WrongShapeError as exc:
            raise protocol_failure(self.name, f"not a chat.completion: {exc}", response) from exc
        if usage is None:
            # Per choice, with the tool calls' arguments: each choice's bound is max_tokens.
            texts = [(c.text or "") + "".join(t.function.arguments for t in c.tool_calls) for c in choices] or [text]
            counts = UsageCounts(
                estimate_input_tokens(m.content for m in call.messages),
                sum(estimate_output_tokens(piece, call.max_tokens) for piece in texts),
            )
        else:
            counts = usage
        return ProviderResult(
            text=text,
            input_tokens=counts.input_tokens,
            output_tokens=counts.output_tokens,
            finish_reason=finish,
            upstream_model=model or call.upstream_model,
            request_id=response.headers.get("x-request-id"),
            usage_estimated=usage is None,
            choices=choices,
            cached_input_tokens=counts.cached_input_tokens,
            reasoning_tokens=counts.reasoning_tokens,
            system_fingerprint=fingerprint(body.get("system_fingerprint")),
        )
