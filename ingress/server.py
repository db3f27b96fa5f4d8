"""Serves the ingress over uvicorn's httptools protocol, plus the limits on the request head that uvicorn lacks.

uvicorn (0.54, httptools) accepts a request head of any size and any number of headers (measured: an 8 MiB
header and 10,000 headers answered 200) and has no deadline for the head: `timeout_keep_alive` only covers
the idle time between requests and is reset by every byte, so a client sending one byte every 2 s held a
connection forever. An ASGI middleware cannot help, since it runs only once the head is complete and in
memory. This protocol subclass therefore, per connection:

- counts the head's bytes as they arrive and refuses (431) past `head_max_bytes`, so at most that much plus
  one socket read is buffered;
- counts headers as the parser emits them and refuses (431) past `headers_max`;
- refuses (408) a head not complete within `header_read_timeout_s` of its first byte, or of the
  connection opening;
- answers the parser's own refusals (malformed request line, control characters in a header, bad
  `Content-Length`) in the API's error shape instead of uvicorn's plain text.

Each refusal closes the connection, and so does any answer sent before its request's body was read. Such a
close lingers: the server shuts its side for writing and reads (and drops) what the client still sends until
the client closes or has sent nothing for `linger_s` (bounded in bytes and in total time), so a client busy
uploading reads the refusal instead of a connection reset. A fixed timer is not enough: a client starved of
CPU keeps uploading past it, the close then resets the connection, and the client loses the refusal already
in its socket buffer (asyncio's reader raises the write's BrokenPipe before returning buffered bytes). The body's limits
are the request guard's (`ingress/door.py`).
"""

from __future__ import annotations

import asyncio
import http
import socket
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ingress.errors import error_body, new_request_id
from ingress.settings import IngressSettings
from schemas.errors import ErrorCode

# Per header: ": " and CRLF around the name and value, as on the wire.
HEADER_FRAMING_BYTES = 4
# A lingering close drops at most this much of what the client still sends before closing outright.
LINGER_DISCARD_MAX_BYTES = 64 * 1_048_576
# A lingering close lasts at most this many times `linger_s`, however steadily the client trickles bytes.
LINGER_TOTAL_FACTOR = 15


@dataclass(frozen=True, slots=True)
class HeadLimits:
    head_max_bytes: int
    headers_max: int
    header_read_timeout_s: float
    linger_s: float


@dataclass(frozen=True, slots=True)
class _Refusal:
    status: int
    code: ErrorCode
    message: str


class _HeadRefused(Exception):
    """Raised inside a parser callback to stop parsing; the refusal itself is kept on the protocol."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with `HeadLimits` (see the module docstring)."""

    head_limits: ClassVar[HeadLimits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.url = b""  # uvicorn sets it only once a request begins; a refusal may come before that
        self._in_head = True
        self._in_body = False
        self._head_bytes = 0
        # One timer per connection, re-armed when it fires, rather than one per request: a uvloop timer costs
        # a few microseconds to arm and cancel, and every request would pay it.
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_since: float | None = None
        self._refusal: _Refusal | None = None
        self._refused = False
        self._raw_transport: asyncio.Transport | None = None
        self.lingering = False
        self._discarded_bytes = 0
        self._linger_last_data = 0.0
        self._linger_until = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._raw_transport = transport
        super().connection_made(_LingeringTransport(transport, self))  # type: ignore[arg-type]
        self._head_since = self.loop.time()
        self._head_timer = self.loop.call_later(self.head_limits.header_read_timeout_s, self._check_head)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)
        # uvicorn cancels its keep-alive timer only on a clean close: after a reset the timer (a bound method) kept
        # the protocol, its transport and its last request's scope alive for the whole keep-alive window.
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            self._discard(len(data))
            return
        if self._refused:
            return
        if self._in_head:
            if self._head_since is None:
                # Any byte while waiting for a head starts its deadline, stray blank lines included.
                self._head_since = self.loop.time()
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.head_limits.head_max_bytes:
            self._refuse(_Refusal(431, ErrorCode.HEADERS_TOO_LARGE, self._head_too_large()))

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        if len(self.headers) > self.head_limits.headers_max:
            self._stop(
                _Refusal(431, ErrorCode.HEADERS_TOO_LARGE, f"more than {self.head_limits.headers_max} request headers")
            )

    def on_headers_complete(self) -> None:
        self._head_since = None
        self._in_head = False
        self._in_body = True
        self._head_bytes = 0
        size = len(self.url) + sum(len(name) + len(value) + HEADER_FRAMING_BYTES for name, value in self.headers)
        if size > self.head_limits.head_max_bytes:
            self._stop(_Refusal(431, ErrorCode.HEADERS_TOO_LARGE, self._head_too_large()))
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_body = False
        self._in_head = True

    def request_incomplete(self) -> bool:
        """Whether the client is, as far as we know, still sending the current request."""
        return self._in_body or (self._in_head and self._head_bytes > 0)

    def linger(self) -> None:
        """Close gracefully while the client still sends: half-close, drop its bytes, close once it stops."""
        transport = self._raw_transport
        assert transport is not None, "lingering before the connection was made"
        self.lingering = True
        self._disarm_head_timer()
        if transport.can_write_eof():
            transport.write_eof()
        transport.resume_reading()
        now = self.loop.time()
        self._linger_last_data = now
        self._linger_until = now + LINGER_TOTAL_FACTOR * self.head_limits.linger_s
        self.loop.call_later(self.head_limits.linger_s, self._check_linger)

    def _check_linger(self) -> None:
        """Close once the client has been quiet for `linger_s`, or the linger's total time is up."""
        transport = self._raw_transport
        if transport is None or transport.is_closing():
            return
        now = self.loop.time()
        quiet_since = self._linger_last_data + self.head_limits.linger_s
        if now >= quiet_since or now >= self._linger_until:
            transport.close()
            return
        self.loop.call_later(min(quiet_since, self._linger_until) - now, self._check_linger)

    def _discard(self, size_bytes: int) -> None:
        self._discarded_bytes += size_bytes
        self._linger_last_data = self.loop.time()
        if self._discarded_bytes > LINGER_DISCARD_MAX_BYTES and self._raw_transport is not None:
            self._raw_transport.close()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a parser error, which includes a refusal raised from a parser callback."""
        refusal = self._refusal or _Refusal(400, ErrorCode.INVALID_REQUEST, f"malformed HTTP request: {msg}")
        self._refuse(refusal)

    def _stop(self, refusal: _Refusal) -> None:
        self._refusal = refusal
        raise _HeadRefused(refusal.message)

    def _head_too_large(self) -> str:
        return f"request line and headers over the limit of {self.head_limits.head_max_bytes} bytes"

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _check_head(self) -> None:
        self._head_timer = None
        if self._refused or self.transport.is_closing():
            return
        timeout_s = self.head_limits.header_read_timeout_s
        now = self.loop.time()
        if self._head_since is not None and self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head behind a request still being answered: its deadline starts after that answer.
            self._head_since = now
        if self._head_since is not None and now - self._head_since >= timeout_s:
            self._refuse(
                _Refusal(408, ErrorCode.REQUEST_TIMEOUT, f"request headers not received within {timeout_s:g} s")
            )
            return
        delay_s = timeout_s if self._head_since is None else self._head_since + timeout_s - now
        self._head_timer = self.loop.call_later(delay_s, self._check_head)

    def _refuse(self, refusal: _Refusal) -> None:
        if self._refused:
            return
        self._refused = True
        self._disarm_head_timer()
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(_refusal_bytes(refusal, self.url))
        # Otherwise a response is still being written for an earlier request: closing is all that is left.
        self.transport.close()


class _LingeringTransport:
    """The connection's transport as uvicorn sees it: `close()` lingers while a request is still arriving."""

    def __init__(self, transport: asyncio.Transport, protocol: GuardedHttpToolsProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        # Bound once: these run on every request, and `__getattr__` would look them up each time.
        self.write = transport.write
        self.get_extra_info = transport.get_extra_info
        self.pause_reading = transport.pause_reading
        self.resume_reading = transport.resume_reading

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self._protocol.lingering or self._transport.is_closing()

    def close(self) -> None:
        if self.is_closing():
            self._transport.close()
        elif self._protocol.request_incomplete():
            self._protocol.linger()
        else:
            self._transport.close()


def _refusal_bytes(refusal: _Refusal, url: bytes) -> bytes:
    request_id = new_request_id()
    path = url.split(b"?", 1)[0].decode("latin-1")
    body = orjson.dumps(
        error_body(message=refusal.message, status=refusal.status, code=refusal.code, request_id=request_id, path=path)
    )
    phrase = http.HTTPStatus(refusal.status).phrase
    head = (
        f"HTTP/1.1 {refusal.status} {phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nx-request-id: {request_id}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def guarded_protocol(limits: HeadLimits) -> type[GuardedHttpToolsProtocol]:
    """uvicorn builds one protocol per connection from a class, so the limits travel as a class attribute."""
    return type("IngressHttpProtocol", (GuardedHttpToolsProtocol,), {"head_limits": limits})


def serve(app: FastAPI, settings: IngressSettings) -> None:
    limits = HeadLimits(
        head_max_bytes=settings.request_head_max_bytes,
        headers_max=settings.request_headers_max,
        header_read_timeout_s=settings.header_read_timeout_s,
        linger_s=settings.refusal_linger_s,
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=guarded_protocol(limits),
        ws="none",
        timeout_keep_alive=settings.http_keep_alive_s,
        log_level="warning",
        access_log=False,
        # uvicorn's own handlers would write text lines; its loggers propagate to the service's JSON handler.
        log_config=None,
    )
    server = uvicorn.Server(config)
    server.run(sockets=[shared_socket(settings.host, settings.port)] if settings.reuse_port else None)


def shared_socket(host: str, port: int) -> socket.socket:
    """A socket bound with SO_REUSEPORT, so replicas share the port; bound, not yet listening.

    uvicorn listens on it only once the app's start-up is done, and the kernel hands connections only to
    listening sockets: a replica still starting (or restarting) gets none meanwhile.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock
