"""Shared setup of the provider adapter tests: the fake provider, an HTTP client, calls and recorded requests.

A test module imports the fixtures it uses (`fake_fixture`, `clean_fake_fixture`, `client_fixture`); they are
registered under the names `fake`, `clean_fake` and `client`. `fake` is module-scoped, so each test module
still gets its own fake provider process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import httpx
import pytest

from fakeprovider.testing import RunningFakeProvider
from schemas.events import PromptMessage
from workers.providers.base import (
    ProviderAuthFailed,
    ProviderCall,
    ProviderConfig,
    ProviderError,
    ProviderProtocolError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from workers.providers.client import ProviderClient

# The error each upstream status becomes: status -> (class, retriable, code), as workers.providers.errors says.
STATUS_ERRORS: dict[int, tuple[type[ProviderError], bool, str]] = {
    400: (ProviderRejected, False, "invalid_request"),
    401: (ProviderAuthFailed, False, "upstream_auth_failed"),
    402: (ProviderRateLimited, False, "quota_exhausted"),
    403: (ProviderAuthFailed, False, "upstream_auth_failed"),
    404: (ProviderUnavailable, False, "upstream_not_found"),
    408: (ProviderTimeout, True, "upstream_timeout"),
    409: (ProviderUnavailable, True, "upstream_error"),
    413: (ProviderRejected, False, "upstream_payload_too_large"),
    422: (ProviderRejected, False, "invalid_request"),
    429: (ProviderRateLimited, True, "rate_limited"),
    500: (ProviderUnavailable, True, "upstream_error"),
    502: (ProviderUnavailable, True, "upstream_error"),
    503: (ProviderUnavailable, True, "upstream_unavailable"),
    504: (ProviderTimeout, True, "upstream_timeout"),
    529: (ProviderUnavailable, True, "upstream_unavailable"),
    302: (ProviderProtocolError, True, "upstream_protocol_error"),
}


def status_cases(*statuses: int) -> list[tuple[int, type[ProviderError], bool, str]]:
    """Parameters (status, error class, retriable, code) for the given statuses, or for every known status."""
    return [(status, *STATUS_ERRORS[status]) for status in statuses or STATUS_ERRORS]


@pytest.fixture(scope="module", name="fake")
def fake_fixture() -> Iterator[RunningFakeProvider]:
    with RunningFakeProvider() as server:
        yield server


@pytest.fixture(autouse=True, name="clean_fake")
def clean_fake_fixture(fake: RunningFakeProvider) -> None:
    """Each test starts with no scenarios and no recorded requests (autouse in the modules that import it)."""
    fake.reset()


@pytest.fixture(name="client")
async def client_fixture() -> AsyncIterator[ProviderClient]:
    """The adapters' client over httpx's own transport (the workers' aiohttp one is tested where it matters)."""
    async with ProviderClient(httpx.AsyncHTTPTransport()) as http:
        yield http


def fake_config(
    fake: RunningFakeProvider, client: ProviderClient, *, name: str, path: str, api_key: str | None
) -> ProviderConfig:
    """A provider config whose base URL is `path` (e.g. "/openai/v1") on the fake provider."""
    return ProviderConfig(name=name, base_url=f"{fake.url}{path}", api_key=api_key, client=client)


def provider_call(
    model: str, messages: Sequence[tuple[str, str]], max_tokens: int, /, **overrides: object
) -> ProviderCall:
    """A call of `model` with (role, text) messages; `overrides` set any ProviderCall field, max_tokens too."""
    fields: dict[str, object] = {
        "upstream_model": model,
        "messages": tuple(PromptMessage(role=role, content=text) for role, text in messages),
        "max_tokens": max_tokens,
    }
    fields.update(overrides)
    return ProviderCall(**fields)  # type: ignore[arg-type]


def only_request(fake: RunningFakeProvider) -> dict[str, Any]:
    """The one request the fake provider recorded since the last reset (fails if there were more or none)."""
    [request] = fake.recorded_requests()
    return request


def assert_json_post(request: dict[str, Any], path: str) -> None:
    """The recorded request was a JSON POST to `path`."""
    assert request["method"] == "POST"
    assert request["path"] == path
    assert request["headers"]["content-type"] == "application/json"
