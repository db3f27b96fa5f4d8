"""OpenAI's chat parameters on the Chat Completions wire (OpenAI and OpenAI-compatible servers): passed through.

Messages keep their tool calls, tool results, image parts and participant names; options go under their own
names; every choice of the answer is read with its tool calls and logprobs. Text from the provider is made
storable (NUL -> U+FFFD). OpenAI's own hints (`safety_identifier`, `prompt_cache_key`) go to OpenAI itself only:
an OpenAI-compatible server has no use for them.
"""

from __future__ import annotations

from typing import Any

from schemas.chat_options import AnsweredFunction, AnsweredToolCall, ChatOptions, ResultChoice
from schemas.events import PromptMessage
from workers.providers.wire import answer_text, as_list, as_object, as_optional_str


def message(prompt: PromptMessage) -> dict[str, Any]:
    """One message in the wire's shape; a plain message stays `{"role", "content"}` as before."""
    content: Any = prompt.content
    if prompt.images:
        parts: list[dict[str, Any]] = [{"type": "text", "text": prompt.content}] if prompt.content else []
        parts += [{"type": "image_url", "image_url": {"url": url}} for url in prompt.images]
        content = parts
    wire: dict[str, Any] = {"role": prompt.role, "content": content}
    if prompt.tool_calls:
        wire["tool_calls"] = [call.model_dump(mode="json") for call in prompt.tool_calls]
        if not prompt.content:
            wire["content"] = None
    if prompt.tool_call_id is not None:
        wire["tool_call_id"] = prompt.tool_call_id
    if prompt.name is not None:
        wire["name"] = prompt.name
    return wire


def option_fields(options: ChatOptions | None, *, openai_hints: bool) -> dict[str, Any]:
    """The options the caller set, under OpenAI's names; unset ones are not sent. `openai_hints`: the server is
    OpenAI itself, which also gets `safety_identifier` and `prompt_cache_key`."""
    if options is None:
        return {}
    fields: dict[str, Any] = {}
    if options.tools:
        fields["tools"] = [tool.model_dump(mode="json", exclude_none=True) for tool in options.tools]
    if options.tool_choice is not None:
        choice = options.tool_choice
        fields["tool_choice"] = choice if isinstance(choice, str) else choice.model_dump(mode="json")
    if options.response_format is not None:
        fields["response_format"] = options.response_format.model_dump(mode="json", by_alias=True, exclude_none=True)
    for name in (
        "parallel_tool_calls",
        "seed",
        "frequency_penalty",
        "presence_penalty",
        "logit_bias",
        "user",
        "top_logprobs",
        "reasoning_effort",
        "verbosity",
        *(("safety_identifier", "prompt_cache_key") if openai_hints else ()),
    ):
        value = getattr(options, name)
        if value is not None:
            fields[name] = value
    if options.n > 1:
        fields["n"] = options.n
    if options.logprobs:
        fields["logprobs"] = True
    return fields


def _tool_calls(raw: object, where: str) -> tuple[AnsweredToolCall, ...]:
    if raw is None:
        return ()
    calls = []
    for index, item in enumerate(as_list(raw, where)):
        call = as_object(item, f"{where}[{index}]")
        function = as_object(call.get("function"), f"{where}[{index}].function")
        calls.append(
            AnsweredToolCall(
                id=answer_text(as_optional_str(call.get("id"), f"{where}[{index}].id") or f"call_{index}"),
                function=AnsweredFunction(
                    name=answer_text(as_optional_str(function.get("name"), f"{where}[{index}].name") or ""),
                    arguments=answer_text(
                        as_optional_str(function.get("arguments"), f"{where}[{index}].arguments") or ""
                    ),
                ),
            )
        )
    return tuple(calls)


def rich_choices(body: dict[str, Any]) -> tuple[ResultChoice, ...]:
    """Every choice, when there is more than one or one has tool calls or logprobs; else () (the text says it)."""
    choices = []
    for index, item in enumerate(as_list(body.get("choices"), "choices")):
        choice = as_object(item, f"choices[{index}]")
        msg = as_object(choice.get("message"), f"choices[{index}].message")
        content = as_optional_str(msg.get("content"), f"choices[{index}].message.content")
        logprobs = choice.get("logprobs")
        choices.append(
            ResultChoice(
                index=index,
                text=answer_text(content) if content is not None else None,
                finish_reason=as_optional_str(choice.get("finish_reason"), f"choices[{index}].finish_reason"),
                tool_calls=_tool_calls(msg.get("tool_calls"), f"choices[{index}].message.tool_calls"),
                logprobs=as_object(logprobs, f"choices[{index}].logprobs") if logprobs is not None else None,
            )
        )
    if len(choices) == 1 and not choices[0].tool_calls and choices[0].logprobs is None:
        return ()
    return tuple(choices)
