"""Upper bounds on prompt tokens, for holds: a hold must never be smaller than what the call can cost.

Byte-level BPE tokenizers (GPT, Llama, Claude, Gemini's SentencePiece with byte fallback) never produce
more tokens than the text has UTF-8 bytes. The provider's chat template adds tokens of its own (special
tokens, role headers, Llama 3.1's default system header with its dates): the catalogue names them per model,
once per prompt and once per message. Bytes plus that overhead is a safe ceiling; holds are released to the
real usage at settlement.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from schemas.catalogue import ModelEntry
from schemas.chat_options import ChatOptions
from schemas.events import PromptMessage


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


# What a provider adds to the prompt to describe tools (its own tool-use instructions: Anthropic's is several
# hundred tokens) or to ask for JSON, on top of the definitions' own bytes.
TOOLS_TEMPLATE_TOKENS = 1024
RESPONSE_FORMAT_TEMPLATE_TOKENS = 256
TOOL_CALL_TEMPLATE_TOKENS = 16


def option_tokens_ceiling(options: ChatOptions | None, messages: Sequence[PromptMessage]) -> int:
    """Prompt tokens beyond the messages' text: tool definitions, the response schema, tool calls in the
    history. Their UTF-8 bytes (a ceiling on their tokens, as for any text) plus the templates above."""
    total = 0
    for message in messages:
        for call in message.tool_calls:
            text = call.id + call.function.name + call.function.arguments
            total += len(text.encode("utf-8")) + TOOL_CALL_TEMPLATE_TOKENS
    if options is None:
        return total
    if options.tools:
        tools = json.dumps([tool.model_dump(mode="json", exclude_none=True) for tool in options.tools])
        total += len(tools.encode("utf-8")) + TOOLS_TEMPLATE_TOKENS
    if options.response_format is not None:
        schema = options.response_format.json_schema
        text = json.dumps(schema.model_dump(mode="json", by_alias=True)) if schema else ""
        total += len(text.encode("utf-8")) + RESPONSE_FORMAT_TEMPLATE_TOKENS
    return total


def image_tokens_ceiling(messages: Sequence[PromptMessage], models: Sequence[ModelEntry]) -> int:
    """The most the images of a prompt can cost on any model of the route."""
    images = sum(len(m.images) for m in messages)
    return images * max((m.image_input_tokens_max for m in models), default=0)
