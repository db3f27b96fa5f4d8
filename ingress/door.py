"""The ASGI guard in front of every route: request bodies bounded in size and time, and no unhandled error.

It runs before authentication and before any body is parsed, so an unauthenticated caller cannot make the
ingress buffer more than the limit or hold a connection open with a slow body:

- a declared `Content-Length` over the limit is refused with 413 before a byte of the body is read;
- a chunked (undeclared) body is counted as it streams and refused the moment it passes the limit;
- GET, HEAD, DELETE and OPTIONS take no body: one over a small limit is refused the same way;
- the whole body must arrive within `body_read_timeout_s` of the headers, else 408;
- a response sent before the body was read to its end closes the connection, so a body nobody reads cannot
  keep trickling in;
- an unexpected exception becomes a 500 in the error shape, and the connection stays usable.

Header size, header count and the header read deadline are the HTTP protocol's job (`ingress/server.py`):
by the time an ASGI app runs, the headers are already in memory.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingress.errors import error_body, request_id_of
from schemas.errors import ErrorCode

log = logging.getLogger(__name__)

BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class BodyLimits:
    body_max_bytes: int
    bodyless_body_max_bytes: int
    body_read_timeout_s: float
    # Uploads (batches, batch files) may stream more: POSTs to these exact paths are bounded by this instead.
    upload_body_max_bytes: int = 0
    upload_paths: frozenset[str] = frozenset()


class BodyRefused(Exception):
    """The body broke a limit: raised out of `receive` to stop the route, answered by the guard."""

    def __init__(self, status: int, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def declared_length(scope: Scope) -> tuple[int | None, bool]:
    """The declared `Content-Length` (the HTTP parser already refused malformed ones) and whether chunked."""
    length: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = int(value) if value.isdigit() else None
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked


class BodyReader:
    """Wraps `receive`: counts the body against its limit and its deadline, raising `BodyRefused` past either.

    The deadline is one timer per request that cancels a `receive` still waiting when it fires: measured,
    `asyncio.timeout_at` around every `receive` cost ~13 us a call, a tenth of a trivial request's CPU.
    """

    __slots__ = (
        "_deadline",
        "_limit_bytes",
        "_receive",
        "_timeout_s",
        "_timer",
        "_waiter",
        "complete",
        "read_bytes",
        "refusal",
    )

    def __init__(self, receive: Receive, *, limit_bytes: int, deadline: float, timeout_s: float) -> None:
        self._receive = receive
        self._limit_bytes = limit_bytes
        self._deadline = deadline
        self._timeout_s = timeout_s
        self._timer: asyncio.TimerHandle | None = None
        self._waiter: asyncio.Task[Any] | None = None
        self.read_bytes = 0
        self.complete = False
        self.refusal: BodyRefused | None = None

    async def receive(self) -> Message:
        if self.complete:
            return await self._receive()
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_at(self._deadline, self._expire)
        if self.refusal is not None:
            raise self.refusal
        self._waiter = asyncio.current_task()
        try:
            message = await self._receive()
        except asyncio.CancelledError:
            if self.refusal is None or self._waiter is None or self._waiter.uncancel() > 0:
                raise  # cancelled by someone else: not ours to swallow
            raise self.refusal from None
        finally:
            self._waiter = None
        if message["type"] != "http.request":
            self._finish()
            return message
        self.read_bytes += len(message.get("body", b""))
        if self.read_bytes > self._limit_bytes:
            self._finish()
            self.refusal = BodyRefused(
                413, ErrorCode.PAYLOAD_TOO_LARGE, f"request body over the limit of {self._limit_bytes} bytes"
            )
            raise self.refusal
        if not message.get("more_body", False):
            self._finish()
        return message

    def _finish(self) -> None:
        self.complete = True
        self.stop()

    def stop(self) -> None:
        """No more deadline: the body is read, or the route has answered without it."""
        if self._timer is not None:
            self._timer.cancel()

    def _expire(self) -> None:
        self.refusal = BodyRefused(
            408, ErrorCode.REQUEST_TIMEOUT, f"request body not received within {self._timeout_s:g} s"
        )
        if self._waiter is not None:
            self._waiter.cancel()

    async def read_all(self) -> bytes:
        chunks = []
        while not self.complete:
            message = await self.receive()
            chunks.append(message.get("body", b""))
        return b"".join(chunks)


class RequestGuard:
    """Pure ASGI middleware applying `BodyLimits` to every HTTP request (see the module docstring)."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bodyless = scope["method"] in BODYLESS_METHODS
        limit_bytes = self.limits.bodyless_body_max_bytes if bodyless else self.limits.body_max_bytes
        if scope["method"] == "POST" and scope["path"] in self.limits.upload_paths:
            limit_bytes = max(limit_bytes, self.limits.upload_body_max_bytes)
        length, chunked = declared_length(scope)
        if length is not None and length > limit_bytes:
            await _refuse(scope, send, 413, ErrorCode.PAYLOAD_TOO_LARGE, _too_large(length, limit_bytes))
            return
        has_body = chunked or bool(length)
        reader = BodyReader(
            receive,
            limit_bytes=limit_bytes,
            deadline=asyncio.get_running_loop().time() + self.limits.body_read_timeout_s,
            timeout_s=self.limits.body_read_timeout_s,
        )
        await self._run(scope, reader, send, has_body=has_body, bodyless=bodyless)

    async def _run(self, scope: Scope, reader: BodyReader, send: Send, *, has_body: bool, bodyless: bool) -> None:
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if reader.refusal is not None:
                return  # the route's own answer to the refusal (often a 400) is replaced by the guard's
            if message["type"] == "http.response.start":
                started = True
                if has_body and not reader.complete:
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            receive: Receive = reader.receive
            if has_body and bodyless:
                # No route reads these bodies, so the guard does, to bound them in size and time.
                receive = _replay(await reader.read_all(), reader)
            await self.app(scope, receive, guarded_send)
            reader.stop()
        except Exception:
            reader.stop()
            if reader.refusal is None:
                log.exception("unhandled error on %s %s", scope["method"], scope["path"])
                if started:
                    raise  # half an answer is on the wire: only closing the connection can end it
                # Answered here rather than by Starlette's ServerErrorMiddleware, which re-raises to the
                # server, and uvicorn then drops the connection under the caller's next request.
                await _send_error(scope, send, 500, ErrorCode.INTERNAL, "internal error", close=False)
                return
        if reader.refusal is not None:
            if started:
                raise reader.refusal
            await _refuse(scope, send, reader.refusal.status, reader.refusal.code, reader.refusal.message)


def _replay(body: bytes, reader: BodyReader) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await reader.receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _too_large(length: int, limit_bytes: int) -> str:
    return f"request body of {length} bytes is over the limit of {limit_bytes} bytes"


async def _refuse(scope: Scope, send: Send, status: int, code: ErrorCode, message: str) -> None:
    """A refusal closes the connection: the rest of the body, if any, is never read."""
    await _send_error(scope, send, status, code, message, close=True)


async def _send_error(scope: Scope, send: Send, status: int, code: ErrorCode, message: str, *, close: bool) -> None:
    request_id = request_id_of(Request(scope))
    body = error_body(message=message, status=status, code=code, request_id=request_id, path=scope["path"])
    headers = {"x-request-id": request_id}
    if close:
        headers["connection"] = "close"
    response = Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/json")

    async def no_body() -> Message:
        return {"type": "http.disconnect"}

    await response(scope, no_body, send)
