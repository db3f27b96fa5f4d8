"""Gemini streams: `:streamGenerateContent?alt=sse`, one GenerateContentResponse per event, no terminator.

Every event carries the usage so far; the last one's counts are billed. The answer ended when a candidate
names a `finishReason`; a stream that stops before that was cut. An `{"error": ...}` event midway is read
as a google.rpc status (a 503 UNAVAILABLE is retriable, like the same status before the stream). A tool call
is a whole `functionCall` part (Gemini does not split one); each becomes one fragment with the id an unstreamed
answer's call would get (`call_0_<n>`), and the answer's finish reason is `tool_calls`, as unstreamed.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx

from workers.providers.base import ProviderCall, ProviderConfig, ProviderRejected, ProviderResult
from workers.providers.errors import CONTENT_BLOCKED, UpstreamError, error_for_status
from workers.providers.exchange import required_api_key
from workers.providers.gemini import _error, _payload, usage_counts
from workers.providers.streams.contract import Answer, DeltaSink
from workers.providers.streams.sse import guarded, json_data, sse_events, stream_protocol_error
from workers.providers.wire import WrongShapeError, as_list, as_object, as_optional_str


class GeminiStream:
    def __init__(self, config: ProviderConfig) -> None:
        api_key = required_api_key(config, "gemini")
        self.name = config.name
        self._config = config
        self._base_url = config.base_url.rstrip("/")
        self._headers = {"x-goog-api-key": api_key, "content-type": "application/json"}

    async def stream(self, call: ProviderCall, on_delta: DeltaSink) -> ProviderResult:
        model = call.upstream_model.removeprefix("models/")
        url = f"{self._base_url}/v1beta/models/{quote(model, safe='')}:streamGenerateContent?alt=sse"
        answer = Answer(self.name, on_delta)
        state: dict[str, Any] = {"usage": None, "finish": None, "model": None, "id": None}
        async with guarded(self.name, call.timeout_s):
            events = sse_events(self._config, url, self._headers, _payload(call), call.timeout_s, _error)
            async for event in events:
                try:
                    await self._read(json_data(self.name, event), state, answer)
                except WrongShapeError as exc:
                    raise stream_protocol_error(self.name, f"not a GenerateContentResponse: {exc}") from exc
        if state["finish"] is None or state["usage"] is None:
            raise stream_protocol_error(self.name, "the stream ended before a finishReason")
        finish = "tool_calls" if len(answer.tool_calls) else state["finish"]
        return ProviderResult(
            text=answer.text,
            input_tokens=state["usage"].input_tokens,
            output_tokens=state["usage"].output_tokens,
            cached_input_tokens=state["usage"].cached_input_tokens,
            reasoning_tokens=state["usage"].reasoning_tokens,
            finish_reason=finish,
            upstream_model=state["model"] or call.upstream_model,
            request_id=state["id"],
            choices=answer.choices(finish),
        )

    async def _read(self, body: dict[str, Any], state: dict[str, Any], answer: Answer) -> None:
        if "error" in body:
            error = body["error"]
            status = error.get("code") if isinstance(error, dict) else None
            response = httpx.Response(status if isinstance(status, int) and 400 <= status < 600 else 500, json=body)
            upstream: UpstreamError = _error(response)
            raise error_for_status(upstream)
        state["model"] = as_optional_str(body.get("modelVersion"), "modelVersion") or state["model"]
        state["id"] = as_optional_str(body.get("responseId"), "responseId") or state["id"]
        if "usageMetadata" in body:
            state["usage"] = usage_counts(as_object(body["usageMetadata"], "usageMetadata"))
        candidates = as_list(body.get("candidates", []), "candidates")
        if not candidates:
            feedback = as_object(body.get("promptFeedback", {}), "promptFeedback")
            reason = as_optional_str(feedback.get("blockReason"), "promptFeedback.blockReason")
            if reason is not None:
                raise ProviderRejected(
                    f"{self.name}: the prompt was blocked ({reason})", retriable=False, code=CONTENT_BLOCKED
                )
            return
        candidate = as_object(candidates[0], "candidates[0]")
        state["finish"] = as_optional_str(candidate.get("finishReason"), "finishReason") or state["finish"]
        content = as_object(candidate.get("content", {}), "candidates[0].content")
        for index, raw in enumerate(as_list(content.get("parts", []), "content.parts")):
            part = as_object(raw, f"parts[{index}]")
            if "functionCall" in part:
                function = as_object(part["functionCall"], f"parts[{index}].functionCall")
                number = len(answer.tool_calls)
                await answer.tool_call(
                    number,
                    call_id=f"call_0_{number}",
                    name=as_optional_str(function.get("name"), "functionCall.name") or "",
                    arguments=json.dumps(function.get("args", {})),
                )
            else:
                await answer.add(as_optional_str(part.get("text"), "parts.text") or "")
