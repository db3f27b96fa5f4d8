"""One streamed POST to a provider: Server-Sent Events read line by line, bounded in size and time.

`guarded` bounds the whole stream by the call's timeout (a server that trickles events, or never ends, is a
ProviderTimeout) and translates transport failures once. `sse_events` yields `(event name, data)` pairs; a
non-2xx answer is read (bounded) and raised through the format's own error reader, and a stream larger than
`config.response_max_bytes` is refused as it arrives, as a non-streamed answer is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from schemas import json_integers
from workers.providers.base import ProviderConfig, ProviderProtocolError
from workers.providers.errors import (
    PROTOCOL_ERROR,
    UpstreamError,
    answer_too_large,
    error_for_status,
    safe_message,
    timeout_failure,
    transport_failure,
)


@dataclass(frozen=True, slots=True)
class SseEvent:
    name: str | None
    data: str


@asynccontextmanager
async def guarded(provider: str, timeout_s: float) -> AsyncIterator[None]:
    """The whole stream within `timeout_s`; transport failures as ProviderErrors."""
    try:
        async with asyncio.timeout(timeout_s):
            yield
    except TimeoutError as exc:
        raise timeout_failure(provider, timeout_s, "stream deadline") from exc
    except httpx.HTTPError as exc:
        raise transport_failure(exc, provider, timeout_s) from exc


def stream_protocol_error(provider: str, problem: str) -> ProviderProtocolError:
    """A stream that is not the provider's wire format (or breaks its rules, like an absurd count)."""
    return ProviderProtocolError(safe_message(f"{provider}: {problem}"), retriable=True, code=PROTOCOL_ERROR)


def json_data(provider: str, event: SseEvent) -> dict[str, Any]:
    try:
        value = orjson.loads(event.data)
    except orjson.JSONDecodeError as exc:
        raise stream_protocol_error(provider, "a stream event is not JSON") from exc
    try:
        # orjson read any integer beyond 64 bits as a float: never passed on altered.
        json_integers.refuse_wide_integers(event.data, value)
    except ValueError as exc:
        raise stream_protocol_error(provider, f"a stream event: {exc}") from exc
    if not isinstance(value, dict):
        raise stream_protocol_error(provider, "a stream event is not a JSON object")
    return value


async def sse_events(
    config: ProviderConfig,
    url: str,
    headers: Mapping[str, str],
    payload: Mapping[str, Any],
    timeout_s: float,
    error_of: Callable[[httpx.Response], UpstreamError],
) -> AsyncIterator[SseEvent]:
    stream_headers = {**headers, "accept": "text/event-stream"}
    request = config.client.build_post(url, stream_headers, orjson.dumps(payload), timeout_s)
    response = await config.client.send(request)
    try:
        if not response.is_success:
            body = await _read_bounded(response, config.response_max_bytes)
            failed = httpx.Response(response.status_code, headers=response.headers, content=body, request=request)
            raise error_for_status(error_of(failed))
        read_bytes = 0
        name: str | None = None
        data: list[str] = []
        async for line in _lines(response, config):
            read_bytes += len(line) + 1
            if read_bytes > config.response_max_bytes:
                raise answer_too_large(config.name, config.response_max_bytes)
            if not line:
                if data:
                    yield SseEvent(name, "\n".join(data))
                name, data = None, []
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif line.startswith("event:"):
                name = line[6:].strip()
            # Comments (":") and fields this reader does not use (id, retry) are skipped, as SSE says.
        if data:
            yield SseEvent(name, "\n".join(data))
    finally:
        await response.aclose()


async def _lines(response: httpx.Response, config: ProviderConfig) -> AsyncIterator[str]:
    """Lines as SSE ends them (LF, CRLF). Not httpx's `aiter_lines`: it also splits on U+2028, U+0085 and the
    other Unicode line breaks, which JSON carries raw inside strings, and would cut an event in two."""
    pending = b""
    async for chunk in response.aiter_bytes():
        pending += chunk
        *lines, pending = pending.split(b"\n")
        if len(pending) > config.response_max_bytes:
            raise answer_too_large(config.name, config.response_max_bytes)
        for line in lines:
            yield line.removesuffix(b"\r").decode("utf-8", errors="replace")
    if pending:
        yield pending.removesuffix(b"\r").decode("utf-8", errors="replace")


async def _read_bounded(response: httpx.Response, limit_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit_bytes:
            break
        chunks.append(chunk)
    return b"".join(chunks)
