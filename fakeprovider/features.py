"""The fake's tool calls, JSON mode and n choices, read from and written in each imitated wire format.

The behaviour is deterministic, so tests can assert it:
- tools offered (and not switched off), the conversation not ending in a tool result: every choice calls the
  forced tool, else the first one, with arguments made from its parameters schema (`sample`); scenario knobs
  (`scripted`) make it call every offered tool in order (`tool_calls_each`), say a text before its calls
  (`tool_text`), or use literal arguments text (`tool_arguments`, hostile text allowed; formats whose arguments
  are JSON objects get it parsed, or as `{"value": <text>}`);
- the conversation ends in a tool result: the answer is "The tool answered: <its content>";
- a JSON schema asked for: the answer is `sample(schema)` as JSON text (local `$ref`s into `$defs` followed, so a
  nested pydantic model gets a nested object); JSON mode: `{"answer": <text>}`; Gemini's schema is read from
  `responseJsonSchema` / `parametersJsonSchema`, else from `responseSchema` / `parameters`;
- n choices: n copies of the answer, each billed as one answer (output tokens times n);
- `logprobs: true` (OpenAI wire): each word of the answer with logprob -0.25 and `top_logprobs` alternatives.
- the `finish_reason` scenario knob: every choice reports that finish reason, as written, in the format's own
  field (OpenAI's `finish_reason`, Anthropic's `stop_reason`, Gemini's `finishReason`), tool calls or not.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from fakeprovider.generation import Generation
from fakeprovider.scenario import Scenario

SAMPLE_DEPTH_MAX = 8
SAMPLE_LOGPROB_TOKENS_MAX = 64
CHOICES_MAX = 16


@dataclass(frozen=True, slots=True)
class Features:
    # (name, parameters schema) of every tool offered.
    tools: tuple[tuple[str, Any], ...] = ()
    forced_tool: str | None = None
    tools_off: bool = False
    # The content of the tool result the conversation ends with.
    tool_result: str | None = None
    json_mode: bool = False
    json_schema: Any = None
    choices: int = 1
    # OpenAI's logprobs: true, and how many alternatives per token (top_logprobs).
    logprobs: bool = False
    top_logprobs: int = 0
    # Scenario knobs (`scripted`): call every offered tool, a text before the calls, literal arguments text.
    tools_each: bool = False
    tool_text: str | None = None
    tool_arguments: str | None = None
    # Scenario knob: the finish reason every choice reports, in the wire format's own words.
    finish_reason: str | None = None


@dataclass(frozen=True, slots=True)
class FakeChoice:
    text: str | None
    # (name, arguments as JSON text) of each tool the choice calls.
    tool_calls: tuple[tuple[str, str], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def scripted(features: Features | None, scenario: Scenario) -> Features:
    """The request's features with the scenario's tool call knobs applied."""
    return dataclasses.replace(
        features or Features(),
        tools_each=scenario.tool_calls_each,
        tool_text=scenario.tool_text,
        tool_arguments=scenario.tool_arguments,
        finish_reason=scenario.finish_reason,
    )


def arguments_object(arguments: str) -> Any:
    """Arguments text as the JSON object the Anthropic and Gemini formats carry (hostile text wrapped)."""
    try:
        parsed = json.loads(arguments, strict=False)  # control characters in strings are the hostile point
    except ValueError:
        return {"value": arguments}
    return parsed if isinstance(parsed, dict) else {"value": arguments}


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def sample(schema: Any, depth: int = 0, root: Any = None) -> Any:
    """A value that satisfies a (simple) JSON schema: enum's or const's value, required properties filled in, the
    first alternative of anyOf / oneOf / allOf that is not null, and local `$ref`s ("#/$defs/Address") followed
    within `root` (the whole schema; `schema` itself at the top). Gemini's upper-case types ("OBJECT") count."""
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > SAMPLE_DEPTH_MAX:
        return None
    if isinstance(schema.get("$ref"), str):
        return sample(_resolved(root, schema["$ref"]), depth + 1, root)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for combined in ("anyOf", "oneOf", "allOf", "any_of"):
        alternatives = schema.get(combined)
        if isinstance(alternatives, list) and alternatives:
            chosen = next((a for a in alternatives if _obj(a).get("type") not in ("null", "NULL")), alternatives[0])
            return sample(chosen, depth + 1, root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    kind = kind.lower() if isinstance(kind, str) else kind
    if kind == "object" or "properties" in schema:
        properties = _obj(schema.get("properties"))
        return {name: sample(sub, depth + 1, root) for name, sub in properties.items()}
    if kind == "array":
        return [sample(schema.get("items"), depth + 1, root)] if depth < SAMPLE_DEPTH_MAX else []
    return {"string": "fake", "integer": 1, "number": 1.5, "boolean": True}.get(str(kind))


def _resolved(root: Any, ref: str) -> Any:
    """The sub-schema a local JSON pointer names ("#/$defs/Address", "#/definitions/A", "#"), or None."""
    if not ref.startswith("#"):
        return None  # a remote reference: nothing to fetch in a fake
    node = root
    for token in ref[1:].split("/")[1:]:
        node = _obj(node).get(token.replace("~1", "/").replace("~0", "~"))
    return node


def choices_of(features: Features, generation: Generation) -> list[FakeChoice]:
    if features.tools and not features.tools_off and features.tool_result is None:
        names = (
            [n for n, _ in features.tools] if features.tools_each else [features.forced_tool or features.tools[0][0]]
        )
        schemas = dict(features.tools)
        calls = []
        for name in names:
            schema = schemas.get(name)
            arguments = features.tool_arguments
            if arguments is None:
                arguments = json.dumps(sample(schema) if schema is not None else {})
            calls.append((name, arguments))
        return [FakeChoice(text=features.tool_text, tool_calls=tuple(calls))] * features.choices
    if features.json_schema is not None:
        text = json.dumps(sample(features.json_schema))
    elif features.json_mode:
        text = json.dumps({"answer": generation.text})
    elif features.tool_result is not None:
        text = f"The tool answered: {features.tool_result}"
    else:
        text = generation.text
    return [FakeChoice(text=text)] * features.choices


def billed(generation: Generation, features: Features) -> Generation:
    """Every choice is one answer's worth of output."""
    if features.choices == 1:
        return generation
    return dataclasses.replace(
        generation,
        output_tokens=generation.output_tokens * features.choices,
        reasoning_tokens=generation.reasoning_tokens * features.choices,
    )


def _bounded_count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 20 else 0


def _bounded_choices(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= CHOICES_MAX else 1


# --- OpenAI Chat Completions ---------------------------------------------------------------------------------


def from_openai(body: dict[str, Any]) -> Features:
    tools = []
    for tool in body.get("tools") or ():
        function = tool.get("function", {}) if isinstance(tool, dict) else {}
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            tools.append((function["name"], function.get("parameters")))
    choice = body.get("tool_choice")
    forced = _obj(choice).get("function", {}).get("name") if isinstance(choice, dict) else None
    messages = body.get("messages") or []
    last = _obj(messages[-1]) if messages else {}
    result = last.get("content") if last.get("role") == "tool" else None
    fmt = _obj(body.get("response_format"))
    schema = _obj(fmt.get("json_schema")).get("schema") if fmt.get("type") == "json_schema" else None
    return Features(
        tools=tuple(tools),
        forced_tool=forced,
        tools_off=choice == "none",
        tool_result=result if isinstance(result, str) else None,
        json_mode=fmt.get("type") in ("json_object", "json_schema"),
        json_schema=schema,
        choices=_bounded_choices(body.get("n", 1)),
        logprobs=body.get("logprobs") is True,
        top_logprobs=_bounded_count(body.get("top_logprobs")),
    )


def _logprobs(text: str, top: int) -> dict[str, Any]:
    """OpenAI's logprobs object: one entry per word of the text (the fake's tokens), each at -0.25."""
    entries = []
    for word in text.split(" ")[:SAMPLE_LOGPROB_TOKENS_MAX]:
        alternatives = [{"token": word, "logprob": -0.25, "bytes": list(word.encode())}] * min(top, 20)
        entries.append({"token": word, "logprob": -0.25, "bytes": list(word.encode()), "top_logprobs": alternatives})
    return {"content": entries, "refusal": None}


def openai_choices(features: Features, generation: Generation) -> list[dict[str, Any]]:
    rendered = []
    for index, choice in enumerate(choices_of(features, generation)):
        message: dict[str, Any] = {"role": "assistant", "content": choice.text, "refusal": None, "annotations": []}
        finish = "length" if generation.truncated else "stop"
        if choice.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_fake_{index}" + (f"_{number}" if number else ""),
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
                for number, (name, arguments) in enumerate(choice.tool_calls)
            ]
            finish = "tool_calls"
        finish = features.finish_reason or finish
        logprobs = _logprobs(choice.text or "", features.top_logprobs) if features.logprobs else None
        rendered.append({"index": index, "message": message, "logprobs": logprobs, "finish_reason": finish})
    return rendered


# --- Anthropic Messages --------------------------------------------------------------------------------------


def from_anthropic(body: dict[str, Any]) -> Features:
    tools = tuple(
        (tool["name"], tool.get("input_schema"))
        for tool in body.get("tools") or ()
        if isinstance(tool, dict) and isinstance(tool.get("name"), str)
    )
    choice = _obj(body.get("tool_choice"))
    messages = body.get("messages") or []
    last = _obj(messages[-1]) if messages else {}
    result = None
    if isinstance(last.get("content"), list):
        for block in last["content"]:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                result = block.get("content")
    return Features(
        tools=tools,
        forced_tool=choice.get("name") if choice.get("type") == "tool" else None,
        tools_off=choice.get("type") == "none",
        tool_result=result if isinstance(result, str) else None,
    )


def anthropic_content(features: Features, generation: Generation) -> tuple[list[dict[str, Any]], str]:
    """The content blocks and the stop reason of the (one) answer."""
    choice = choices_of(features, generation)[0]
    if choice.tool_calls:
        blocks: list[dict[str, Any]] = [{"type": "text", "text": choice.text}] if choice.text else []
        for number, (name, arguments) in enumerate(choice.tool_calls):
            blocks.append(
                {"type": "tool_use", "id": f"toolu_fake_{number}", "name": name, "input": arguments_object(arguments)}
            )
        return blocks, features.finish_reason or "tool_use"
    content = [{"type": "text", "text": choice.text}] if choice.text else []
    return content, features.finish_reason or ("max_tokens" if generation.truncated else "end_turn")


# --- Gemini generateContent ----------------------------------------------------------------------------------


def _either(body: dict[str, Any], *names: str) -> Any:
    """The first of `names` the object has (proto-JSON takes camelCase and snake_case alike)."""
    return next((body[name] for name in names if name in body), None)


def from_gemini(body: dict[str, Any]) -> Features:
    tools = []
    for tool in body.get("tools") or ():
        for declaration in (
            _either(tool, "functionDeclarations", "function_declarations") or () if isinstance(tool, dict) else ()
        ):
            if isinstance(declaration, dict) and isinstance(declaration.get("name"), str):
                schema = _either(declaration, "parametersJsonSchema", "parameters_json_schema", "parameters")
                tools.append((declaration["name"], schema))
    calling = _obj(_obj(body.get("toolConfig")).get("functionCallingConfig"))
    allowed = calling.get("allowedFunctionNames") or []
    contents = body.get("contents") or []
    last = _obj(contents[-1]) if contents else {}
    result = None
    for part in last.get("parts") or ():
        if isinstance(part, dict) and isinstance(part.get("functionResponse"), dict):
            result = _obj(part["functionResponse"].get("response")).get("content")
    config = _obj(_either(body, "generationConfig", "generation_config"))
    return Features(
        tools=tuple(tools),
        forced_tool=allowed[0] if allowed and isinstance(allowed[0], str) else None,
        tools_off=calling.get("mode") == "NONE",
        tool_result=result if isinstance(result, str) else None,
        json_mode=_either(config, "responseMimeType", "response_mime_type") == "application/json",
        json_schema=_either(config, "responseJsonSchema", "response_json_schema", "responseSchema", "response_schema"),
        choices=_bounded_choices(_either(config, "candidateCount", "candidate_count") or 1),
    )


def gemini_candidates(features: Features, generation: Generation) -> list[dict[str, Any]]:
    candidates = []
    for index, choice in enumerate(choices_of(features, generation)):
        if choice.tool_calls:
            parts: list[dict[str, Any]] = [{"text": choice.text}] if choice.text else []
            parts += [
                {"functionCall": {"name": name, "args": arguments_object(arguments)}}
                for name, arguments in choice.tool_calls
            ]
        else:
            parts = [{"text": choice.text}]
        candidates.append(
            {
                "content": {"role": "model", "parts": parts},
                "finishReason": features.finish_reason or ("MAX_TOKENS" if generation.truncated else "STOP"),
                "index": index,
            }
        )
    return candidates
