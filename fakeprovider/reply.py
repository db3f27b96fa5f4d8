"""The fake's HTTP reply value and the wire-format interface every imitated provider implements."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from fakeprovider.generation import Generation, Prompt
from fakeprovider.scenario import Scenario

JSON_CONTENT_TYPE = (b"content-type", b"application/json")
# A 2xx body that is not JSON at all: what a misbehaving proxy or a truncated response looks like.
MALFORMED_BODY = b'{"id": "fake-truncated", "choices": [{"message": {"content": "cut of'
# Valid JSON in none of the imitated formats.
WRONG_SHAPE_BODY = b'{"fake_provider": "this body has the wrong shape on purpose"}'


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    # Sent in pieces without a content-length (chunked transfer encoding) instead of in one piece.
    chunked: bool = False


def json_reply(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Reply:
    extra = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    return Reply(status, encode_json(payload), [JSON_CONTENT_TYPE, *extra])


def encode_json(payload: Any) -> bytes:
    """The payload as JSON. orjson writes no integer beyond 64 bits, and a scripted hostile count may be one
    (2**70): the standard library writes it exactly, as a provider that sent it would."""
    try:
        return orjson.dumps(payload)
    except orjson.JSONEncodeError:
        return json.dumps(payload, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    """What a wire format may look at: lower-cased headers, query parameters, parsed body, path model."""

    headers: Mapping[str, str]
    query: Mapping[str, str]
    # The parsed JSON body, or None when the body was not JSON.
    body: Any
    # The model named in the URL (Gemini); None for formats that carry it in the body.
    path_model: str | None = None


class WireFormat(Protocol):
    """One imitated provider: auth, validation, success and error bodies."""

    def check_auth(self, request: ProviderRequest) -> Reply | None:
        """A rejection when the credentials are missing or invalid, else None."""

    def parse(self, request: ProviderRequest) -> Prompt | Reply:
        """The prompt of a valid request, or the provider's 4xx for an invalid one."""

    def error(
        self,
        status: int,
        code: str | None,
        retry_after_s: float | None,
        request_id: str,
        scripted_message: str | None = None,
    ) -> Reply:
        """The provider's error body and headers for a scripted failure (with the scenario's message if set)."""

    def success(self, prompt: Prompt, generation: Generation, scenario: Scenario, request_id: str) -> Reply:
        """The provider's 200 body and headers."""
