"""OpenAI's chat parameters on Gemini's generateContent wire.

- `tools` -> `tools[{functionDeclarations: [{name, description, parametersJsonSchema}]}]`; `tool_choice` auto/
  required/none/{function} -> `toolConfig.functionCallingConfig` mode AUTO/ANY/NONE (+ `allowedFunctionNames`).
- `response_format` json_object -> `generationConfig.responseMimeType: application/json`; json_schema -> also
  `responseJsonSchema`; `n` -> `candidateCount`; `seed`, `presence_penalty`, `frequency_penalty` -> `seed`,
  `presencePenalty`, `frequencyPenalty`. `user`, `safety_identifier`, `prompt_cache_key` and a message's
  participant `name` have no Gemini field and are not sent.
- An assistant's tool calls -> `functionCall` parts; a `tool` message -> a `functionResponse` part named after
  the call it answers; images -> `inlineData` (data URLs) or `fileData` (other URLs).
- Each candidate -> a choice; its `functionCall` parts -> tool calls (ids minted: Gemini has none), and
  its finish reason `tool_calls` when it called a tool.
logit_bias and logprobs are refused at the door by the catalogue's capability flags.

OpenAI's schemas are JSON Schema (`additionalProperties`, `$defs`/`$ref` for nested models: what `parse()` and
strict tools always send), so they go in Gemini's JSON Schema fields, `responseJsonSchema` and
`parametersJsonSchema`, as sent. Gemini's older `responseSchema` / `parameters` are its OpenAPI-3.0-subset Schema,
which has none of those keywords: the API refuses them with 400 "Unknown name ...: Cannot find field".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from schemas import json_integers
from schemas.chat_options import AnsweredFunction, AnsweredToolCall, ChatOptions, ResultChoice
from schemas.events import PromptMessage
from workers.providers.wire import answer_text, as_list, as_object, as_optional_str, split_system

ROLE_NAMES = {"user": "user", "assistant": "model", "tool": "user"}
_MODES = {"auto": "AUTO", "required": "ANY", "none": "NONE"}
_IMAGE_TYPES = {".png": "image/png", ".gif": "image/gif", ".webp": "image/webp"}


def has_parts(messages: Sequence[PromptMessage]) -> bool:
    return any(m.tool_calls or m.tool_call_id is not None or m.images for m in messages)


def contents(messages: Sequence[PromptMessage]) -> tuple[str | None, list[dict[str, Any]]]:
    """The system instruction's text and the contents; plain conversations are sent as before."""
    if not has_parts(messages):
        system, turns = split_system(messages)
        return system, [{"role": ROLE_NAMES[role], "parts": [{"text": text}]} for role, text in turns]
    names = {call.id: call.function.name for m in messages for call in m.tool_calls}
    system_parts: list[str] = []
    result: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            system_parts.append(message.content)
            continue
        role = ROLE_NAMES[message.role]
        parts = _parts(message, names)
        if result and result[-1]["role"] == role:
            result[-1]["parts"].extend(parts)
        else:
            result.append({"role": role, "parts": parts})
    return ("\n\n".join(system_parts) if system_parts else None), result


def _parts(message: PromptMessage, names: dict[str, str]) -> list[dict[str, Any]]:
    if message.role == "tool":
        name = names.get(message.tool_call_id or "", message.tool_call_id or "")
        return [{"functionResponse": {"name": name, "response": {"content": message.content}}}]
    parts: list[dict[str, Any]] = [{"text": message.content}] if message.content else []
    parts += [_image(url) for url in message.images]
    for call in message.tool_calls:
        parts.append({"functionCall": {"name": call.function.name, "args": _arguments(call.function.arguments)}})
    return parts or [{"text": ""}]


def _arguments(text: str) -> Any:
    """A call's arguments as Gemini's `args`: the parsed JSON, or `{"arguments": text}` when the text is not
    JSON or holds an integer beyond 64 bits (exact in the text; orjson could neither send nor keep it)."""
    try:
        arguments = json_integers.loads_exact(text or "{}")
    except ValueError:
        return {"arguments": text}
    return arguments if json_integers.find_wide_integer(arguments) is None else {"arguments": text}


def _image(url: str) -> dict[str, Any]:
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        return {"inlineData": {"mimeType": header.removeprefix("data:").split(";", 1)[0], "data": data}}
    suffix = url.rsplit(".", 1)[-1].lower() if "." in url else ""
    return {"fileData": {"mimeType": _IMAGE_TYPES.get(f".{suffix}", "image/jpeg"), "fileUri": url}}


def generation_fields(options: ChatOptions | None) -> dict[str, Any]:
    """What goes into `generationConfig`."""
    if options is None:
        return {}
    fields: dict[str, Any] = {}
    if options.response_format is not None:
        fields["responseMimeType"] = "application/json"
        schema = options.response_format.json_schema
        if schema is not None and schema.json_schema is not None:
            fields["responseJsonSchema"] = schema.json_schema
    if options.n > 1:
        fields["candidateCount"] = options.n
    if options.seed is not None:
        fields["seed"] = options.seed
    if options.presence_penalty is not None:
        fields["presencePenalty"] = options.presence_penalty
    if options.frequency_penalty is not None:
        fields["frequencyPenalty"] = options.frequency_penalty
    return fields


def request_fields(options: ChatOptions | None) -> dict[str, Any]:
    """What goes at the top of the request: `tools` and `toolConfig`."""
    if options is None or not options.tools:
        return {}
    declarations = []
    for tool in options.tools:
        declaration: dict[str, Any] = {"name": tool.function.name}
        if tool.function.description:
            declaration["description"] = tool.function.description
        if tool.function.parameters is not None:
            declaration["parametersJsonSchema"] = tool.function.parameters
        declarations.append(declaration)
    fields: dict[str, Any] = {"tools": [{"functionDeclarations": declarations}]}
    choice = options.tool_choice
    if isinstance(choice, str):
        fields["toolConfig"] = {"functionCallingConfig": {"mode": _MODES[choice]}}
    elif choice is not None:
        config = {"mode": "ANY", "allowedFunctionNames": [choice.function.name]}
        fields["toolConfig"] = {"functionCallingConfig": config}
    return fields


def candidate_choice(index: int, candidate: dict[str, Any]) -> ResultChoice:
    content = as_object(candidate.get("content", {}), f"candidates[{index}].content")
    texts: list[str] = []
    calls: list[AnsweredToolCall] = []
    for number, raw in enumerate(as_list(content.get("parts", []), f"candidates[{index}].content.parts")):
        part = as_object(raw, f"candidates[{index}].parts[{number}]")
        if "functionCall" in part:
            call = as_object(part["functionCall"], f"candidates[{index}].parts[{number}].functionCall")
            name = as_optional_str(call.get("name"), "functionCall.name") or ""
            calls.append(
                AnsweredToolCall(
                    id=f"call_{index}_{len(calls)}",
                    function=AnsweredFunction(
                        name=answer_text(name), arguments=answer_text(json.dumps(call.get("args", {})))
                    ),
                )
            )
        else:
            texts.append(as_optional_str(part.get("text"), f"candidates[{index}].parts[{number}].text") or "")
    finish = as_optional_str(candidate.get("finishReason"), f"candidates[{index}].finishReason")
    return ResultChoice(
        index=index,
        text=answer_text("".join(texts)),
        finish_reason="tool_calls" if calls else finish,
        tool_calls=tuple(calls),
    )


def answer_choices(candidates: list[Any]) -> tuple[ResultChoice, ...]:
    """Every candidate as a choice, when there is more than one or one called a tool; else ()."""
    choices = [candidate_choice(i, as_object(c, f"candidates[{i}]")) for i, c in enumerate(candidates)]
    if len(choices) == 1 and not choices[0].tool_calls:
        return ()
    return tuple(choices)
