"""The fake's streamed answers: each wire format's Server-Sent Events, paced and broken on demand.

A streamed answer is built from the same 200 body the format sends without streaming (so hostile texts and
token counts apply to streams too), cut into pieces and rendered as that provider streams:

- OpenAI / vLLM: `data: {chat.completion.chunk}` lines, role first, content deltas, a `finish_reason` chunk,
  with `stream_options.include_usage` a last chunk with empty `choices` and the usage, then `data: [DONE]`;
- Anthropic: `message_start`, `content_block_start`, `ping`, `content_block_delta`s, `content_block_stop`,
  `message_delta` (stop reason, cumulative output tokens), `message_stop`;
- Gemini (`:streamGenerateContent?alt=sse`): `data: {GenerateContentResponse}` per piece, each with the usage
  so far, the last with `finishReason`; no terminator.

Tool calls stream as each provider streams them: OpenAI's `delta.tool_calls` (id, type and name with empty
arguments, then argument pieces, finish `tool_calls`), Anthropic's `tool_use` content blocks with
`input_json_delta` pieces (after a text block when the answer says something first), Gemini's whole
`functionCall` parts. Each argument piece counts as a piece for the knobs below; the `tool_*` knobs
(fakeprovider/scenario.py) script parallel calls, a text before them and hostile arguments or indexes.

Scenario knobs: `stream_chunk_ms` (pause before each piece), `stream_chunk_chars` (piece size; default one
word per piece), `stream_fail_after` (after N pieces, the format's mid-stream error event, then the end),
`stream_hang_after` (after N pieces, nothing more until the client goes away: a stream that never ends),
`stream_cut_after` (after N pieces the body just ends, no error and no terminator).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from fakeprovider.generation import Prompt
from fakeprovider.reply import Reply, encode_json
from fakeprovider.scenario import Scenario

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]

SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
WORD = re.compile(r"\S+\s*|\s+")


@dataclass(slots=True)
class StreamReply:
    """A 200 answer sent as events: `events[:pieces_before]` are the head, then content pieces, then the tail."""

    head: list[bytes]
    pieces: list[bytes]
    tail: list[bytes]
    # What replaces the rest of the stream after `stop_after` pieces: an error event, a hang, or a cut.
    stop_after: int | None = None
    stop_with: bytes | None = None
    hang: bool = False
    chunk_s: float = 0.0
    headers: list[tuple[bytes, bytes]] = field(default_factory=lambda: list(SSE_HEADERS))


def _data(payload: object) -> bytes:
    return b"data: " + encode_json(payload) + b"\n\n"


def _event(name: str, payload: object) -> bytes:
    return f"event: {name}\n".encode() + _data(payload)


def split_text(text: str, chunk_chars: int | None) -> list[str]:
    """The answer in pieces: one word (with its trailing space) each, or `chunk_chars` characters each."""
    if not text:
        return []
    if chunk_chars:
        return [text[i : i + chunk_chars] for i in range(0, len(text), chunk_chars)]
    return WORD.findall(text)


def stream_of(kind: str, prompt: Prompt, reply: Reply, scenario: Scenario) -> StreamReply:
    """The streamed form of a successful (200) non-streamed reply of wire format `kind`."""
    # The standard library keeps a scripted count beyond 64 bits exact; orjson would read it as a float.
    body = json.loads(reply.body)
    if kind == "anthropic":
        stream = _anthropic(body, scenario)
    elif kind == "gemini":
        stream = _gemini(body, scenario)
    else:
        stream = _openai(body, prompt, scenario)
    stream.chunk_s = scenario.stream_chunk_ms / 1000
    stream.headers.extend(h for h in reply.headers if h[0].lower() != b"content-type")
    for after, hang, cut in (
        (scenario.stream_fail_after, False, False),
        (scenario.stream_hang_after, True, False),
        (scenario.stream_cut_after, False, True),
    ):
        if after is not None:
            stream.stop_after, stream.hang = after, hang
            stream.stop_with = None if hang or cut else _error_event(kind)
            break
    return stream


def _error_event(kind: str) -> bytes:
    if kind == "anthropic":
        return _event("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    if kind == "gemini":
        return _data(
            {"error": {"code": 503, "message": "The model is overloaded (fake provider).", "status": "UNAVAILABLE"}}
        )
    message = "The server had an error while processing your request (fake provider, mid-stream)."
    return _data({"error": {"message": message, "type": "server_error", "param": None, "code": None}})


def _openai(body: dict[str, Any], prompt: Prompt, scenario: Scenario) -> StreamReply:
    choice = body["choices"][0]
    base = {
        "id": body["id"],
        "object": "chat.completion.chunk",
        "created": body["created"],
        "model": body["model"],
        "system_fingerprint": body.get("system_fingerprint"),
    }
    if prompt.include_usage:
        base["usage"] = None

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return _data({**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]})

    text = choice["message"]["content"] or ""
    calls = choice["message"].get("tool_calls") or []
    pieces = [chunk({"content": piece}) for piece in split_text(text, scenario.stream_chunk_chars)]
    for number, call in enumerate(calls):
        index = number if scenario.tool_call_index is None else scenario.tool_call_index
        # As OpenAI streams a call: id, type and name with empty arguments first, then the arguments in pieces.
        first = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {**call["function"], "arguments": ""},
        }
        pieces.append(chunk({"tool_calls": [first]}))
        for piece in split_text(call["function"]["arguments"], scenario.stream_chunk_chars):
            pieces.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    tail = [chunk({}, choice["finish_reason"])]
    if prompt.include_usage and "usage" in body:
        tail.append(_data({**base, "choices": [], "usage": body["usage"]}))
    tail.append(b"data: [DONE]\n\n")
    # OpenAI opens an answer that starts with a tool call with `content: null`.
    role = {"role": "assistant", "content": "" if text or not calls else None, "refusal": None}
    return StreamReply(head=[chunk(role)], pieces=pieces, tail=tail)


def _anthropic_block(index: int, block: dict[str, Any], scenario: Scenario) -> tuple[bytes, list[bytes]]:
    """A content block's `content_block_start` and its deltas (text, or a tool_use's input as JSON text)."""
    if block["type"] == "tool_use":
        index = index if scenario.tool_call_index is None else scenario.tool_call_index
        started = {**block, "input": {}}
        arguments = scenario.tool_arguments if scenario.tool_arguments is not None else json.dumps(block["input"])
        deltas = [
            {"type": "input_json_delta", "partial_json": p} for p in split_text(arguments, scenario.stream_chunk_chars)
        ]
    else:
        started = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in split_text(block["text"], scenario.stream_chunk_chars)]
    start = _event("content_block_start", {"type": "content_block_start", "index": index, "content_block": started})
    return start, [
        _event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        for delta in deltas
    ]


def _anthropic(body: dict[str, Any], scenario: Scenario) -> StreamReply:
    usage = dict(body["usage"])
    output_tokens = usage.pop("output_tokens")
    message = {
        **body,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": 1},
    }
    blocks = body["content"] or [{"type": "text", "text": ""}]
    head = [_event("message_start", {"type": "message_start", "message": message})]
    pieces: list[bytes] = []
    stop = b""
    for number, block in enumerate(blocks):
        start, deltas = _anthropic_block(number, block, scenario)
        if number == 0:
            head += [start, _event("ping", {"type": "ping"})]
        else:
            # The previous block's stop and this block's start travel with its first delta (or alone).
            deltas = [stop + start + (deltas[0] if deltas else b""), *deltas[1:]]
        pieces += deltas
        index = number if block["type"] != "tool_use" or scenario.tool_call_index is None else scenario.tool_call_index
        stop = _event("content_block_stop", {"type": "content_block_stop", "index": index})
    return StreamReply(
        head=head,
        pieces=pieces,
        tail=[
            stop,
            _event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": body["stop_reason"], "stop_sequence": None},
                    "usage": {"output_tokens": output_tokens},
                },
            ),
            _event("message_stop", {"type": "message_stop"}),
        ],
    )


def _gemini(body: dict[str, Any], scenario: Scenario) -> StreamReply:
    candidates = body.get("candidates")
    if not candidates:
        return StreamReply(head=[_data(body)], pieces=[], tail=[])  # a blocked prompt: one event, as Gemini does
    candidate = candidates[0]
    parts: list[dict[str, Any]] = []
    for part in candidate["content"]["parts"]:
        if "functionCall" in part:
            parts.append(part)  # Gemini sends a function call whole
        else:
            parts += [{"text": piece} for piece in split_text(part.get("text", ""), scenario.stream_chunk_chars)]
    parts = parts or [{"text": ""}]
    usage = body["usageMetadata"]
    partial_usage = {k: v for k, v in usage.items() if k.startswith("prompt")}

    def event(part: dict[str, Any], last: bool) -> bytes:
        shown = {"content": {"role": "model", "parts": [part]}, "index": 0}
        if last:
            shown["finishReason"] = candidate["finishReason"]
        return _data(
            {
                "candidates": [shown],
                "usageMetadata": usage if last else partial_usage,
                "modelVersion": body["modelVersion"],
                "responseId": body["responseId"],
            }
        )

    return StreamReply(
        head=[],
        pieces=[event(part, False) for part in parts[:-1]],
        tail=[event(parts[-1], True)],
    )


async def send_stream(send: Send, receive: Receive, stream: StreamReply, hang_max_s: float) -> None:
    """Send the events, pausing `chunk_s` before each piece; a hang waits for the client to go away (bounded)."""
    await send({"type": "http.response.start", "status": 200, "headers": stream.headers})
    for event in stream.head:
        await send({"type": "http.response.body", "body": event, "more_body": True})
    for index, piece in enumerate(stream.pieces):
        if stream.stop_after is not None and index >= stream.stop_after:
            await _stop(send, receive, stream, hang_max_s)
            return
        if stream.chunk_s:
            await asyncio.sleep(stream.chunk_s)
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    if stream.stop_after is not None and stream.stop_after <= len(stream.pieces) and stream.pieces:
        await _stop(send, receive, stream, hang_max_s)
        return
    await send({"type": "http.response.body", "body": b"".join(stream.tail)})


async def _stop(send: Send, receive: Receive, stream: StreamReply, hang_max_s: float) -> None:
    if stream.hang:
        try:
            async with asyncio.timeout(hang_max_s):
                while (await receive())["type"] != "http.disconnect":
                    pass
        except TimeoutError:
            pass
    await send({"type": "http.response.body", "body": stream.stop_with or b""})
