"""Anthropic Messages streams: named events from `message_start` to `message_stop`.

Input tokens come with `message_start` (the three prompt counters summed, as for a non-streamed message),
output tokens with `message_delta` (cumulative: the last one counts). An `error` event after the 200
(`overloaded_error` is the usual one) is a retriable ProviderUnavailable; a stream without `message_stop`
was cut. A tool call is a `content_block_start` of type `tool_use` (its id and name), then `input_json_delta`
fragments of its input as JSON text, then `content_block_stop`; a call whose input never came reads `{}`.
"""

from __future__ import annotations

import json
from typing import Any

from workers.providers.anthropic import AnthropicAdapter, _error, input_counts
from workers.providers.base import ProviderCall, ProviderConfig, ProviderResult, ProviderUnavailable
from workers.providers.errors import UPSTREAM_ERROR, UPSTREAM_UNAVAILABLE, safe_message
from workers.providers.streams.contract import Answer, DeltaSink
from workers.providers.streams.sse import guarded, json_data, sse_events, stream_protocol_error
from workers.providers.wire import WrongShapeError, as_count, as_object, as_optional_str


class AnthropicStream:
    def __init__(self, config: ProviderConfig) -> None:
        self._adapter = AnthropicAdapter(config)  # the request's shape and checks are the same as unstreamed
        self.name = config.name
        self._config = config

    async def stream(self, call: ProviderCall, on_delta: DeltaSink) -> ProviderResult:
        payload = {**self._adapter._payload(call), "stream": True}
        answer = Answer(self.name, on_delta)
        state: dict[str, Any] = {"input": None, "cached": 0, "output": None, "stop": None, "model": None, "done": False}
        adapter = self._adapter
        async with guarded(self.name, call.timeout_s):
            events = sse_events(self._config, adapter._url, adapter._headers, payload, call.timeout_s, _error)
            async for event in events:
                try:
                    await self._read(event.name, json_data(self.name, event), state, answer)
                except WrongShapeError as exc:
                    raise stream_protocol_error(self.name, f"not a message stream: {exc}") from exc
                if state["done"]:
                    break
        if not state["done"] or state["input"] is None or state["output"] is None:
            raise stream_protocol_error(self.name, "the stream ended before message_stop")
        return ProviderResult(
            text=answer.text,
            input_tokens=state["input"],
            cached_input_tokens=state["cached"],
            output_tokens=state["output"],
            finish_reason=state["stop"],
            upstream_model=state["model"] or call.upstream_model,
            choices=answer.choices(state["stop"]),
        )

    async def _read(self, name: str | None, data: dict[str, Any], state: dict[str, Any], answer: Answer) -> None:
        kind = name or data.get("type")
        if kind == "error":
            error = data.get("error")
            err_type = error.get("type") if isinstance(error, dict) else None
            message = error.get("message") if isinstance(error, dict) else None
            raise ProviderUnavailable(
                safe_message(f"{self.name}: failed mid-stream: {err_type}: {message}"),
                retriable=True,
                code=UPSTREAM_UNAVAILABLE if err_type == "overloaded_error" else UPSTREAM_ERROR,
            )
        if kind == "message_start":
            message = as_object(data.get("message"), "message")
            usage = as_object(message.get("usage"), "message.usage")
            state["model"] = as_optional_str(message.get("model"), "message.model")
            state["input"], state["cached"] = input_counts(usage)
            state["output"] = as_count(usage.get("output_tokens"), "usage.output_tokens", missing_is_zero=True)
        elif kind in ("content_block_start", "content_block_delta", "content_block_stop"):
            await _content_block(kind, data, answer)
        elif kind == "message_delta":
            delta = as_object(data.get("delta", {}), "delta")
            state["stop"] = as_optional_str(delta.get("stop_reason"), "delta.stop_reason") or state["stop"]
            usage = as_object(data.get("usage", {}), "usage")
            if "output_tokens" in usage:
                state["output"] = as_count(usage.get("output_tokens"), "usage.output_tokens")
        elif kind == "message_stop":
            state["done"] = True


async def _content_block(kind: str, data: dict[str, Any], answer: Answer) -> None:
    """Text pieces and tool call fragments; a block's `index` keys its tool call (text blocks share the count)."""
    index = data.get("index", 0)
    if not isinstance(index, int) or isinstance(index, bool):
        raise WrongShapeError(f"content block index is not an integer: {str(index)[:40]!r}")
    if kind == "content_block_start":
        block = as_object(data.get("content_block"), "content_block")
        if block.get("type") == "tool_use":
            given = block.get("input")
            await answer.tool_call(
                index,
                call_id=as_optional_str(block.get("id"), "content_block.id"),
                name=as_optional_str(block.get("name"), "content_block.name"),
                # Anthropic starts a call with an empty input and streams it; a whole input here is kept.
                arguments=json.dumps(given) if isinstance(given, dict) and given else "",
            )
    elif kind == "content_block_delta":
        delta = as_object(data.get("delta"), "delta")
        if delta.get("type") == "text_delta":
            await answer.add(as_optional_str(delta.get("text"), "delta.text") or "")
        elif delta.get("type") == "input_json_delta":
            if not answer.tool_calls.started(index):
                raise WrongShapeError(f"input_json_delta for content block {index}, which is not a tool_use")
            await answer.tool_call(index, arguments=as_optional_str(delta.get("partial_json"), "partial_json") or "")
    elif answer.tool_calls.started(index):
        await answer.close_tool_call(index)
