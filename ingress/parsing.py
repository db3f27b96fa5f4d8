"""Turns a raw request body into a validated `ChatCompletionRequest`, or a clear 400/413."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from schemas.api import ChatCompletionRequest
from schemas.errors import ErrorCode, InvalidRequest, PayloadTooLarge


def load_json_object(body: bytes, *, body_max_bytes: int) -> dict[str, Any]:
    if len(body) > body_max_bytes:
        raise PayloadTooLarge(f"request body is {len(body)} bytes; the limit is {body_max_bytes}")
    try:
        # orjson rejects invalid UTF-8 and nesting deeper than 1024, so neither reaches pydantic.
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}", code=ErrorCode.INVALID_JSON) from exc
    if not isinstance(raw, dict):
        raise InvalidRequest("body must be a JSON object")
    return raw


def check_message_count(raw: dict[str, Any], messages_max: int) -> None:
    """Refuse a huge conversation before validating every message in it."""
    messages = raw.get("messages")
    if isinstance(messages, list) and len(messages) > messages_max:
        raise InvalidRequest(f"too many messages: {len(messages)}; the limit is {messages_max}")


def parse_chat_request(body: bytes, *, body_max_bytes: int, messages_max: int) -> ChatCompletionRequest:
    raw = load_json_object(body, body_max_bytes=body_max_bytes)
    check_message_count(raw, messages_max)
    try:
        return ChatCompletionRequest.model_validate(raw)
    except ValidationError as exc:
        raise InvalidRequest(_describe(exc)) from exc


def _describe(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"unknown field '{where}'"
    if first["type"] == "missing":
        return f"'{where}' is required"
    return f"'{where}': {first['msg']}" if where else first["msg"]
