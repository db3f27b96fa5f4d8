"""One JSON POST to a provider: deadline, transport failures and response decoding, shared by all adapters.

The request carries `timeout_s` as its per-phase timeout (it bounds each phase: connect, write, each read);
`asyncio.timeout` around the exchange bounds the whole call, so a server that trickles bytes cannot hold
a worker longer than the call's timeout. The body is read up to `config.response_max_bytes`: a larger
answer is refused as it arrives (it could not travel in a usage event), never buffered whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from schemas import json_integers
from workers.providers.base import ProviderConfig
from workers.providers.errors import answer_too_large, protocol_failure, timeout_failure, transport_failure

# Headers that described the body as it came over the wire; the response handed on holds it decoded.
WIRE_ENCODING_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


async def post_json(
    config: ProviderConfig,
    url: str,
    headers: Mapping[str, str],
    payload: Mapping[str, Any],
    timeout_s: float,
) -> httpx.Response:
    """The provider's complete response (any status), or a ProviderTimeout / ProviderUnavailable /
    ProviderProtocolError (a body over the limit)."""
    content = orjson.dumps(payload)
    try:
        async with asyncio.timeout(timeout_s):
            response = await config.client.send(config.client.build_post(url, headers, content, timeout_s))
            try:
                return await _read_bounded(response, config.name, config.response_max_bytes)
            finally:
                await response.aclose()
    except TimeoutError as exc:
        raise timeout_failure(config.name, timeout_s) from exc
    except httpx.HTTPError as exc:
        raise transport_failure(exc, config.name, timeout_s) from exc


async def _read_bounded(response: httpx.Response, provider: str, limit_bytes: int) -> httpx.Response:
    """The response with its body read, or ProviderProtocolError as soon as the body passes `limit_bytes`."""
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and "content-encoding" not in response.headers:
        # The common case costs one read: the length is known before a byte of the body is.
        if int(declared) > limit_bytes:
            raise answer_too_large(provider, limit_bytes)
        await response.aread()
        return response
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit_bytes:
            raise answer_too_large(provider, limit_bytes)
        chunks.append(chunk)
    # A body of unknown length (chunked, or compressed) was read in pieces; the response handed on holds it
    # decoded, so the headers that described it on the wire go.
    kept = [(name, value) for name, value in response.headers.multi_items() if name not in WIRE_ENCODING_HEADERS]
    return httpx.Response(
        response.status_code,
        headers=kept,
        content=b"".join(chunks),
        request=response.request,
        extensions=response.extensions,
    )


def required_api_key(config: ProviderConfig, kind: str) -> str:
    """The key of a hosted provider (`kind` names it in the error); building its adapter without one is a ValueError."""
    if not config.api_key:
        raise ValueError(f"provider {config.name!r} ({kind}) needs an api key")
    return config.api_key


def decode_object(response: httpx.Response) -> dict[str, Any] | None:
    """The response body as a JSON object, or None when it is not one, or holds an integer beyond 64 bits that
    orjson would have read as a float (callers decide what that means)."""
    try:
        return _object(response.content)
    except ValueError:
        return None


def success_object(provider: str, response: httpx.Response) -> dict[str, Any]:
    """A 2xx body as a JSON object; anything else is a ProviderProtocolError."""
    try:
        body = _object(response.content)
    except json_integers.IntegerOutOfRange as exc:
        raise protocol_failure(provider, f"2xx body: {exc}", response) from exc
    except ValueError as exc:
        raise protocol_failure(provider, "2xx body is not a JSON object", response) from exc
    if body is None:
        raise protocol_failure(provider, "2xx body is not a JSON object", response)
    return body


def _object(content: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, None when it is JSON but not an object; ValueError when it is not JSON, or
    IntegerOutOfRange (a ValueError) when an integer in it is outside what orjson reads exactly."""
    body = orjson.loads(content)
    json_integers.refuse_wide_integers(content, body)
    return body if isinstance(body, dict) else None


def error_member(response: httpx.Response) -> object:
    """The `error` member of a JSON object error body (`{"error": ...}`), or None."""
    body = decode_object(response)
    return body.get("error") if body is not None else None


def error_message(error: object, response: httpx.Response) -> str:
    """The error object's `message` when it has one, else the body's text, else the status's reason phrase."""
    fallback = response.text or response.reason_phrase
    if isinstance(error, dict):
        return str(error.get("message") or fallback)
    return fallback
