"""Chat Completions streams (OpenAI and OpenAI-compatible servers): `chat.completion.chunk` events, `[DONE]`.

The request asks for `stream_options.include_usage`, so the last chunk (empty `choices`) carries the usage.
OpenAI must send it; an OpenAI-compatible server that does not gets the same conservative estimate as a
non-streamed answer without usage. A `data: {"error": ...}` event midway (how OpenAI reports a failure
after the 200) is a retriable ProviderUnavailable; a stream that ends without a `finish_reason` was cut.
Tool calls come as `delta.tool_calls[{index, id, function: {name, arguments}}]` fragments (streams/tool_calls.py
renumbers and bounds them); an index that is not an integer is a protocol error, a missing one reads as 0.
"""

from __future__ import annotations

from typing import Any

from workers.providers.base import ProviderCall, ProviderConfig, ProviderResult, ProviderUnavailable
from workers.providers.chat_completions import chat_error, chat_payload, usage_counts
from workers.providers.errors import UPSTREAM_ERROR, safe_message
from workers.providers.exchange import required_api_key
from workers.providers.openai_compatible import estimate_input_tokens, estimate_output_tokens
from workers.providers.streams.contract import Answer, DeltaSink
from workers.providers.streams.sse import guarded, json_data, sse_events, stream_protocol_error
from workers.providers.wire import UsageCounts, WrongShapeError, as_list, as_object, as_optional_str, fingerprint


class ChatCompletionsStream:
    """`base_url` ends in `/v1`. `usage_required`: OpenAI itself (True) or a local server (False)."""

    def __init__(self, config: ProviderConfig, *, usage_required: bool) -> None:
        self.name = config.name
        self._config = config
        self._usage_required = usage_required
        self._url = config.base_url.rstrip("/") + "/chat/completions"
        self._headers = {"content-type": "application/json"}
        api_key = required_api_key(config, "openai") if usage_required else config.api_key
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"

    async def stream(self, call: ProviderCall, on_delta: DeltaSink) -> ProviderResult:
        field = call.max_tokens_field if self._usage_required else "max_tokens"
        payload = {
            **chat_payload(call, field, openai_hints=self._usage_required),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        answer = Answer(self.name, on_delta)
        state: dict[str, Any] = {"finish": None, "usage": None, "model": None, "fingerprint": None}
        async with guarded(self.name, call.timeout_s):
            events = sse_events(self._config, self._url, self._headers, payload, call.timeout_s, chat_error)
            async for event in events:
                if event.data.strip() == "[DONE]":
                    break
                try:
                    await self._read(json_data(self.name, event), state, answer)
                except WrongShapeError as exc:
                    raise stream_protocol_error(self.name, f"not a chat.completion.chunk: {exc}") from exc
        if state["finish"] is None:
            raise stream_protocol_error(self.name, "the stream ended before the answer finished")
        usage = state["usage"]
        if usage is None and self._usage_required:
            raise stream_protocol_error(self.name, "the stream carried no usage")
        if usage is None:
            usage = UsageCounts(
                estimate_input_tokens(m.content for m in call.messages),
                # The tool calls' arguments are output too, as for an unstreamed answer without usage.
                estimate_output_tokens(
                    answer.text + "".join(c.function.arguments for c in answer.tool_calls.calls()), call.max_tokens
                ),
            )
        return ProviderResult(
            text=answer.text,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            finish_reason=state["finish"],
            upstream_model=state["model"] or call.upstream_model,
            usage_estimated=state["usage"] is None,
            choices=answer.choices(state["finish"]),
            cached_input_tokens=usage.cached_input_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            system_fingerprint=state["fingerprint"],
        )

    async def _read(self, chunk: dict[str, Any], state: dict[str, Any], answer: Answer) -> None:
        """The chunk's text and tool call fragments to `answer`; its finish reason, usage and model to `state`."""
        error = chunk.get("error")
        if error is not None:
            message = error.get("message") if isinstance(error, dict) else error
            raise ProviderUnavailable(
                safe_message(f"{self.name}: failed mid-stream: {message}"), retriable=True, code=UPSTREAM_ERROR
            )
        state["model"] = as_optional_str(chunk.get("model"), "model") or state["model"]
        # Every chunk repeats it; the first one fit to show is kept.
        state["fingerprint"] = state["fingerprint"] or fingerprint(chunk.get("system_fingerprint"))
        if chunk.get("usage") is not None:
            state["usage"] = usage_counts(as_object(chunk["usage"], "usage"))
        for index, choice in enumerate(as_list(chunk.get("choices", []), "choices")):
            choice = as_object(choice, f"choices[{index}]")
            delta = as_object(choice.get("delta", {}), f"choices[{index}].delta")
            await answer.add(
                (as_optional_str(delta.get("content"), "delta.content") or "")
                + (as_optional_str(delta.get("refusal"), "delta.refusal") or "")
            )
            state["finish"] = as_optional_str(choice.get("finish_reason"), "finish_reason") or state["finish"]
            for number, fragment in enumerate(as_list(delta.get("tool_calls") or [], "delta.tool_calls")):
                await _tool_call(answer, as_object(fragment, f"delta.tool_calls[{number}]"))


async def _tool_call(answer: Answer, fragment: dict[str, Any]) -> None:
    index = fragment.get("index", 0)
    if not isinstance(index, int) or isinstance(index, bool):
        raise WrongShapeError(f"delta.tool_calls[].index is not an integer: {str(index)[:40]!r}")
    function = as_object(fragment.get("function") or {}, "delta.tool_calls[].function")
    await answer.tool_call(
        index,
        call_id=as_optional_str(fragment.get("id"), "delta.tool_calls[].id"),
        name=as_optional_str(function.get("name"), "delta.tool_calls[].function.name"),
        arguments=as_optional_str(function.get("arguments"), "delta.tool_calls[].function.arguments") or "",
    )
