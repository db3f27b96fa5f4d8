"""Every text of a prompt that the provider receives, as the input guardrails read it: what deny rules search and
what `max_prompt_chars` counts.

Beyond each message's text, a provider receives: the tool calls in the history (their ids, names and arguments),
a tool result's call id and a message's participant name (OpenAI and OpenAI-compatible servers); the tool
definitions (name, description, and parameters as JSON text); the response schema (name, description, schema as
JSON text); image URLs. A `data:` image URL is read and counted up to its
first comma only (`data:image/png;base64,`): the rest is the image's bytes, which no text rule can read, and an
image's cost is bounded apart (ingress/estimate.py). JSON texts are read twice by deny rules, as sent and as their
strings decoded (`"\\u0062"` is `b` to the model), but counted once, as sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from runtime.guardrails import json_strings, parsed_json
from schemas.events import ChatParameters

DATA_URL = "data:"


@dataclass(frozen=True, slots=True)
class PromptTexts:
    # Each text as the provider receives it: `max_prompt_chars` counts these.
    sent: tuple[str, ...]
    # The strings inside the JSON texts, escapes decoded: deny rules read them too.
    decoded: tuple[str, ...]

    def chars(self) -> int:
        return sum(len(text) for text in self.sent)

    def searched(self) -> Iterator[str]:
        yield from self.sent
        yield from self.decoded


def prompt_texts(params: ChatParameters) -> PromptTexts:
    sent: list[str] = []
    decoded: list[str] = []
    for message in params.messages:
        sent.append(message.content)
        for call in message.tool_calls:
            sent.extend((call.id, call.function.name, call.function.arguments))
            is_json, value = parsed_json(call.function.arguments)
            if is_json:
                decoded.extend(json_strings(value))
        if message.tool_call_id is not None:
            sent.append(message.tool_call_id)
        if message.name is not None:
            sent.append(message.name)
        sent.extend(_readable_url(url) for url in message.images)
    options = params.options
    if options is not None:
        for tool in options.tools:
            function = tool.function
            sent.extend((function.name, function.description or ""))
            if function.parameters is not None:
                sent.append(_json_text(function.parameters))
                decoded.extend(json_strings(function.parameters))
        schema = options.response_format.json_schema if options.response_format is not None else None
        if schema is not None:
            sent.extend((schema.name, schema.description or ""))
            if schema.json_schema is not None:
                sent.append(_json_text(schema.json_schema))
                decoded.extend(json_strings(schema.json_schema))
    return PromptTexts(tuple(text for text in sent if text), tuple(text for text in decoded if text))


def _readable_url(url: str) -> str:
    if url.startswith(DATA_URL):
        return url[: url.find(",") + 1] if "," in url else url
    return url


def _json_text(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
