"""Turns a raw request body into a validated `ChatCompletionRequest`, or a clear 400/413."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from schemas import json_integers
from schemas.api import ChatCompletionRequest
from schemas.errors import ErrorCode, InvalidRequest, PayloadTooLarge


def load_json_object(body: bytes, *, body_max_bytes: int) -> dict[str, Any]:
    if len(body) > body_max_bytes:
        raise PayloadTooLarge(f"request body is {len(body)} bytes; the limit is {body_max_bytes}")
    try:
        # orjson rejects invalid UTF-8 and nesting deeper than 1024, so neither reaches pydantic.
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if (wide := json_integers.wide_integer_refused(body)) is not None:
            # Valid JSON holding an integer too long for a double: named by its field, as any wide integer is.
            raise InvalidRequest(str(wide)) from exc
        raise InvalidRequest(f"body is not valid JSON: {exc}", code=ErrorCode.INVALID_JSON) from exc
    try:
        # orjson read any integer beyond 64 bits as a float: refused here rather than sent on altered.
        json_integers.refuse_wide_integers(body, raw)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from exc
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
    first, where = relevant_error(exc)
    if first["type"] == "extra_forbidden":
        return f"unknown field '{where}'"
    if first["type"] == "missing":
        return f"'{where}' is required"
    return f"'{where}': {first['msg']}" if where else first["msg"]


_VALUE_ERROR = "Value error, "


def relevant_error(exc: ValidationError) -> tuple[ErrorDetails, str]:
    """The error to report and its field path (`messages.0.content.0.text`), without pydantic's union tags.

    A value matching no member of a union (`str | list[TextPart]`) fails once per member; the member that got
    furthest into the value says what is wrong (a NUL in a part), not the one that wanted another type.
    """
    errors = exc.errors(include_url=False)
    first = errors[0]
    if any(_is_union_tag(part) for part in first["loc"]):
        first = max(errors, key=lambda error: len(error["loc"]))
    if first["type"] == "value_error" and first["msg"].startswith(_VALUE_ERROR):
        # pydantic prefixes a validator's own message; the caller is told the message.
        first = {**first, "msg": first["msg"].removeprefix(_VALUE_ERROR)}
    if not first["loc"]:
        return first, ""  # a rule over several fields (a model validator)
    *path, last = first["loc"]
    where = [str(part) for part in path if not _is_union_tag(part)]
    # An unknown field's own name ends its path, whatever it looks like (`[`, `str`): never a union tag.
    if first["type"] == "extra_forbidden" or not _is_union_tag(last):
        where.append(str(last))
    return first, ".".join(where)


def _is_union_tag(part: str | int) -> bool:
    # Field names here are lower-case identifiers; union members are tagged by type (`str`, `list[TextPart]`,
    # or a model's class name such as `TextPart`).
    return isinstance(part, str) and ("[" in part or part in _TYPE_TAGS or part[:1].isupper())


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "none"})
