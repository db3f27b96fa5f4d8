"""How a streamed answer looks on each surface: OpenAI's `chat.completion.chunk` events, or Luntrex's own.

OpenAI surface (as OpenAI streams): `data: {chunk}` lines, the role first (`content: null` when the answer
starts with a tool call), then content deltas and tool call pieces (`delta.tool_calls[{index, id, type,
function: {name, arguments}}]`, the id, type and name on a call's first piece only), then a chunk with
`finish_reason` (`tool_calls` when the answer called tools); with `stream_options.include_usage` every chunk has
`"usage": null` and one more chunk with empty `choices` carries the usage with its details (plus Luntrex's `cost`
and `balance_left`); then `data: [DONE]`. Every chunk says `service_tier` and `system_fingerprint`, the latter null
until the answer is billed (the finish and usage chunks carry the provider's). An error after the first byte is
`data: {"error": {...}}` (the official SDKs raise it as an APIError) and the stream ends without `[DONE]`.

Native surface: `event: start` `{"id", "model"}`, `event: delta` `{"id", "delta"}` per piece of text,
`event: tool_call` `{"id", "tool_call": {index, id, type, function: {name, arguments}}}` per piece of a tool call
(OpenAI's piece shape), and `event: done` `{"id", "model", "provider", "finish_reason", "usage", "cost",
"balance_left", "first_token_ms"}` (plus `tool_calls`, the whole calls, when the answer has any) once the job is
billed, or `event: error` with the API error shape plus `id`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from ingress import openai_choices, openai_shapes
from schemas.chat_options import ToolCallDelta
from schemas.errors import InvalidRequest, spec_of
from schemas.results import JobResult

KEEPALIVE = b": keep-alive\n\n"


def _data(payload: object) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _event(name: str, payload: object) -> bytes:
    return f"event: {name}\n".encode() + _data(payload)


def tool_call_piece(piece: ToolCallDelta) -> dict[str, Any]:
    """A piece of a tool call as OpenAI streams it: id, type and name on the call's first piece only."""
    if piece.id is None:
        return {"index": piece.index, "function": {"arguments": piece.arguments}}
    return {
        "index": piece.index,
        "id": piece.id,
        "type": "function",
        "function": {"name": piece.name or "", "arguments": piece.arguments},
    }


class StreamShape(Protocol):
    def start(self, job_id: str, model_id: str, *, text_first: bool = True) -> bytes: ...
    def delta(self, text: str) -> bytes: ...
    def tool_call(self, piece: ToolCallDelta) -> bytes: ...
    def finish(self, result: JobResult, first_token_ms: int | None) -> bytes: ...
    def error(self, code: str, message: str, request_id: str) -> bytes: ...


def stream_options_of(raw: dict[str, Any]) -> tuple[bool, bool]:
    """(stream, include_usage) taken out of an OpenAI request body, checked as strictly as OpenAI does;
    `include_obfuscation` is checked and needs nothing (the chunks never carry OpenAI's `obfuscation` field)."""
    stream = raw.pop("stream", None)
    options = raw.pop("stream_options", None)
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequest("'stream': Input should be a valid boolean")
    if options is None:
        return bool(stream), False
    if not stream:
        raise InvalidRequest("'stream_options' is only allowed when 'stream' is true")
    if not isinstance(options, dict) or set(options) - {"include_usage", "include_obfuscation"}:
        raise InvalidRequest("'stream_options' takes only 'include_usage' and 'include_obfuscation'")
    for name in ("include_usage", "include_obfuscation"):
        if not isinstance(options.get(name, False), bool):
            raise InvalidRequest(f"'stream_options.{name}': Input should be a valid boolean")
    return True, options.get("include_usage", False)


@dataclass
class OpenAIChunks:
    include_usage: bool
    _base: dict[str, Any] = field(default_factory=dict)

    def start(self, job_id: str, model_id: str, *, text_first: bool = True) -> bytes:
        self._base = {
            "id": job_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model_id,
            "service_tier": openai_shapes.SERVICE_TIER,
            # Known once the answer is billed: the chunks before then say null, the last two the provider's.
            "system_fingerprint": None,
        }
        if self.include_usage:
            self._base["usage"] = None
        # OpenAI starts an answer that opens with a tool call with `content: null`.
        return self._chunk({"role": "assistant", "content": "" if text_first else None, "refusal": None}, None)

    def _chunk(self, delta: dict[str, Any], finish: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _data({**self._base, "choices": [choice]})

    def delta(self, text: str) -> bytes:
        return self._chunk({"content": text}, None)

    def tool_call(self, piece: ToolCallDelta) -> bytes:
        return self._chunk({"tool_calls": [tool_call_piece(piece)]}, None)

    def finish(self, result: JobResult, first_token_ms: int | None) -> bytes:  # noqa: ARG002 - native only
        first = openai_choices.result_choices(result)[0]
        finish = openai_choices.openai_finish_reason(first.finish_reason)
        if first.tool_calls:
            finish = "tool_calls"
        self._base["system_fingerprint"] = result.system_fingerprint
        events = [self._chunk({}, finish)]
        if self.include_usage:
            events.append(
                _data(
                    {
                        **self._base,
                        "model": result.model_id,
                        "choices": [],
                        "usage": openai_shapes.usage(result),
                        "cost": result.cost_tokens,
                        "balance_left": result.balance_left,
                    }
                )
            )
        events.append(b"data: [DONE]\n\n")
        return b"".join(events)

    def error(self, code: str, message: str, request_id: str) -> bytes:
        return _data(openai_shapes.error_body(message, spec_of(code).status, code, request_id))


@dataclass
class NativeEvents:
    _job_id: str = ""

    def start(self, job_id: str, model_id: str, *, text_first: bool = True) -> bytes:  # noqa: ARG002 - OpenAI only
        self._job_id = job_id
        return _event("start", {"id": job_id, "model": model_id})

    def delta(self, text: str) -> bytes:
        return _event("delta", {"id": self._job_id, "delta": text})

    def tool_call(self, piece: ToolCallDelta) -> bytes:
        return _event("tool_call", {"id": self._job_id, "tool_call": tool_call_piece(piece)})

    def finish(self, result: JobResult, first_token_ms: int | None) -> bytes:
        done: dict[str, Any] = {
            "id": result.job_id,
            "model": result.model_id,
            "provider": result.provider,
            "finish_reason": result.finish_reason,
            "usage": result.usage_counts(),
            "cost": result.cost_tokens,
            "balance_left": result.balance_left,
            "first_token_ms": first_token_ms,
        }
        calls = result.choices[0].tool_calls if result.choices else ()
        if calls:
            # As the unstreamed native answer: the first choice's calls, only when there are any.
            done["tool_calls"] = [call.model_dump(mode="json") for call in calls]
        return _event("done", done)

    def error(self, code: str, message: str, request_id: str) -> bytes:
        status = spec_of(code).status
        body = {"error": message, "status": status, "code": code, "request_id": request_id, "id": self._job_id}
        return _event("error", body)
