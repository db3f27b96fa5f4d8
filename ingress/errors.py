"""Translates every failure, once, into the API's error shape `{"error", "status", "code", "request_id"}`."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ingress import openai_shapes
from ingress.json_response import OrjsonResponse
from schemas import json_integers
from schemas.errors import ErrorCode, LuntrexError

# Errors on the OpenAI-compatible surface use OpenAI's envelope, so its SDKs raise their usual exceptions.
OPENAI_PREFIX = "/api/v1/openai/"


def request_id_of(request: Request) -> str:
    """The request's id: the caller's `X-Request-Id` when sane, else a fresh one, fixed for the request."""
    existing = getattr(request.state, "request_id", None)
    if existing is not None:
        return str(existing)
    supplied = request.headers.get("x-request-id", "")
    request_id = supplied if 0 < len(supplied) <= 64 and supplied.isprintable() else new_request_id()
    request.state.request_id = request_id
    return request_id


def new_request_id() -> str:
    return f"req_{uuid.uuid4().hex}"


def error_body(*, message: str, status: int, code: str, request_id: str, path: str) -> dict[str, object]:
    """The error shape for a path: OpenAI's envelope on the OpenAI-compatible surface, ours elsewhere."""
    if path.startswith(OPENAI_PREFIX):
        return openai_shapes.error_body(message, status, code, request_id)
    return {"error": message, "status": status, "code": code, "request_id": request_id}


def error_response(
    request: Request,
    *,
    message: str,
    status: int,
    code: str,
    retry_after_s: int | None = None,
    extra: dict[str, Any] | None = None,
) -> OrjsonResponse:
    """The error shape; `extra` adds an error's own details (a refused batch's bad lines) beside the message,
    inside OpenAI's `error` object on the OpenAI surface."""
    request_id = request_id_of(request)
    body = error_body(message=message, status=status, code=code, request_id=request_id, path=request.url.path)
    if extra:
        nested = body.get("error")
        target: dict[str, Any] = nested if isinstance(nested, dict) else body
        target.update(extra)
    headers = {"x-request-id": request_id}
    if retry_after_s is not None:
        body["retry_after"] = retry_after_s
        headers["retry-after"] = str(retry_after_s)
    return OrjsonResponse(body, status_code=status, headers=headers)


async def _unreadable_integer(request: Request) -> str | None:
    """The field of an integer literal too long for Python to read, in a JSON body FastAPI failed to parse.

    FastAPI answers "There was an error parsing the body" for a valid JSON body holding an integer of more
    than 4300 digits (Python's guard against slow conversions); the body, already read and cached on the
    request, is read again here without converting long literals, so the answer names the field as it does
    for any other bad value.
    """
    try:
        body = await request.body()
    except RuntimeError:
        return None
    found = json_integers.wide_integer_refused(body)
    return str(found) if found is not None else None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LuntrexError)
    async def _luntrex(request: Request, exc: LuntrexError) -> OrjsonResponse:
        response = error_response(
            request,
            message=exc.message,
            status=exc.status,
            code=exc.code,
            retry_after_s=exc.retry_after_s,
            extra=getattr(exc, "body_extra", None),
        )
        # A failed job's answer keeps the headers of its outcome (`Idempotent-Replayed` on a replay).
        for name, value in getattr(exc, "headers", {}).items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> OrjsonResponse:
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return error_response(
            request,
            message=f"{where}: {first['msg']}" if where else str(first["msg"]),
            status=400,
            code=ErrorCode.INVALID_REQUEST,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> OrjsonResponse:
        code = ErrorCode.NOT_FOUND if exc.status_code == 404 else ErrorCode.INVALID_REQUEST
        message = str(exc.detail)
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
            message = await _unreadable_integer(request) or message
        return error_response(request, message=message, status=exc.status_code, code=code)

    # Unexpected exceptions are answered by the request guard (ingress/door.py), which keeps the connection.
