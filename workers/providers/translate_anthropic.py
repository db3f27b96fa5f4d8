"""OpenAI's chat parameters on Anthropic's Messages wire: tools, tool calls and tool results as content blocks.

- `tools` -> `tools[{name, description, input_schema}]`; `tool_choice` auto/required/none/{function} ->
  `{"type": "auto" | "any" | "none" | "tool", "name"}`; `parallel_tool_calls: false` ->
  `disable_parallel_tool_use: true`; `user` (else `safety_identifier`) -> `metadata.user_id`.
- An assistant message's tool calls -> `tool_use` blocks (arguments parsed from their JSON text); a `tool`
  message -> a user turn with a `tool_result` block; images -> `image` blocks (base64 for data URLs).
- The answer's `tool_use` blocks -> tool calls (arguments as JSON text), `stop_reason: tool_use`.
Parameters Anthropic has no equivalent for (seed, penalties, logit_bias, n > 1, logprobs, response_format) are
refused at the door by the catalogue's capability flags, never silently dropped here. A message's participant
`name` is the exception: a label agent frameworks set on every message, not a request the model could fail to
honour, so it is left out rather than refused (README, "OpenAI parameters").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from schemas import json_integers
from schemas.chat_options import AnsweredFunction, AnsweredToolCall, ChatOptions, ResultChoice
from schemas.events import PromptMessage
from workers.providers.wire import answer_text, as_object, as_optional_str, split_system

_TOOL_CHOICES = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}


class UntranslatableError(ValueError):
    """The conversation cannot be said in Anthropic's format (the message says why)."""


def has_blocks(messages: Sequence[PromptMessage]) -> bool:
    return any(m.tool_calls or m.tool_call_id is not None or m.images for m in messages)


def turns(messages: Sequence[PromptMessage]) -> tuple[str | None, list[dict[str, Any]]]:
    """The top-level system text and the alternating turns; plain conversations keep plain string contents."""
    if not has_blocks(messages):
        system, plain = split_system(messages)
        return system, [{"role": role, "content": text} for role, text in plain]
    system_parts: list[str] = []
    result: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            system_parts.append(message.content)
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if result and result[-1]["role"] == role:
            result[-1]["content"].extend(blocks)
        else:
            result.append({"role": role, "content": blocks})
    return ("\n\n".join(system_parts) if system_parts else None), result


def _blocks(message: PromptMessage) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [{"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.content}]
    blocks: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
    blocks += [_image(url) for url in message.images]
    for call in message.tool_calls:
        try:
            # Exact integers: one beyond 64 bits could be neither sent (orjson writes none) nor altered.
            arguments = json_integers.loads_exact(call.function.arguments or "{}")
        except ValueError as exc:
            raise UntranslatableError(f"tool call {call.id}'s arguments are not JSON") from exc
        wide = json_integers.find_wide_integer(arguments)
        if wide is not None:
            raise UntranslatableError(f"tool call {call.id}'s arguments: {wide}")
        if not isinstance(arguments, dict):
            raise UntranslatableError(f"tool call {call.id}'s arguments are not a JSON object")
        blocks.append({"type": "tool_use", "id": call.id, "name": call.function.name, "input": arguments})
    return blocks


def _image(url: str) -> dict[str, Any]:
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header.removeprefix("data:").split(";", 1)[0]
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def option_fields(options: ChatOptions | None) -> dict[str, Any]:
    if options is None:
        return {}
    fields: dict[str, Any] = {}
    if options.tools:
        fields["tools"] = [
            {
                "name": tool.function.name,
                **({"description": tool.function.description} if tool.function.description else {}),
                "input_schema": tool.function.parameters or {"type": "object", "properties": {}},
            }
            for tool in options.tools
        ]
    choice: dict[str, Any] | None = None
    if isinstance(options.tool_choice, str):
        choice = dict(_TOOL_CHOICES[options.tool_choice])
    elif options.tool_choice is not None:
        choice = {"type": "tool", "name": options.tool_choice.function.name}
    if options.parallel_tool_calls is False and options.tools:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    if choice is not None:
        fields["tool_choice"] = choice
    # `safety_identifier` is `user`'s successor: the one end-user label Anthropic has room for.
    user_id = options.user if options.user is not None else options.safety_identifier
    if user_id is not None:
        fields["metadata"] = {"user_id": user_id}
    return fields


def answer_choices(content: list[Any], stop_reason: str | None) -> tuple[ResultChoice, ...]:
    """The answer as a choice when it asked for tools (else () : the text says it all)."""
    calls = []
    texts = []
    for index, raw in enumerate(content):
        block = as_object(raw, f"content[{index}]")
        if block.get("type") == "text":
            texts.append(as_optional_str(block.get("text"), f"content[{index}].text") or "")
        elif block.get("type") == "tool_use":
            arguments = block.get("input", {})
            calls.append(
                AnsweredToolCall(
                    id=answer_text(as_optional_str(block.get("id"), f"content[{index}].id") or f"toolu_{index}"),
                    function=AnsweredFunction(
                        name=answer_text(as_optional_str(block.get("name"), f"content[{index}].name") or ""),
                        arguments=answer_text(json.dumps(arguments)),
                    ),
                )
            )
    if not calls:
        return ()
    text = answer_text("".join(texts))
    return (ResultChoice(index=0, text=text or None, finish_reason=stop_reason, tool_calls=tuple(calls)),)
