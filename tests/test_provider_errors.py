"""The shared error mapping: status classes, retry hints, and which adapter each provider kind gets."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tests.provider_harness import status_cases
from workers.providers.anthropic import AnthropicAdapter
from workers.providers.base import (
    ProviderAuthFailed,
    ProviderConfig,
    ProviderError,
    ProviderRateLimited,
)
from workers.providers.client import ProviderClient
from workers.providers.errors import (
    UpstreamError,
    error_for_status,
    retry_after_from_headers,
    seconds_from_google_duration,
)
from workers.providers.gemini import GeminiAdapter
from workers.providers.openai import OpenAIAdapter
from workers.providers.openai_compatible import OpenAICompatibleAdapter
from workers.providers.registry import build_adapter


@pytest.mark.parametrize(("status", "error_class", "retriable", "code"), status_cases())
def test_status_classes(status: int, error_class: type[ProviderError], retriable: bool, code: str) -> None:
    error = error_for_status(UpstreamError(status=status, message="boom", retry_after_s=1.0))

    assert type(error) is error_class
    assert error.retriable is retriable
    assert error.code == code
    assert error.status == status
    # A retry hint survives only on errors worth retrying.
    assert error.retry_after_s == (1.0 if retriable else None)


def test_exhausted_quota_and_invalid_key_override_the_status() -> None:
    quota = error_for_status(UpstreamError(status=429, message="x", quota_exhausted=True, retry_after_s=9))
    key = error_for_status(UpstreamError(status=400, message="x", key_invalid=True))

    assert isinstance(quota, ProviderRateLimited)
    assert (quota.retriable, quota.retry_after_s) == (False, None)
    assert isinstance(key, ProviderAuthFailed)


def test_provider_body_is_bounded() -> None:
    error = error_for_status(UpstreamError(status=500, message="x", body="y" * 100_000))

    assert error.provider_body is not None
    assert len(error.provider_body) == 4096


@pytest.mark.parametrize(
    ("headers", "expected_s"),
    [
        ({"retry-after": "20"}, 20.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"}, 30.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:27:00 GMT"}, 0.0),
        ({"retry-after": "99999999"}, 3600.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_headers(headers: dict[str, str], expected_s: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)

    assert retry_after_from_headers(httpx.Headers(headers), now=now) == expected_s


@pytest.mark.parametrize(
    ("value", "expected_s"),
    [("30s", 30.0), ("1.5s", 1.5), ("0s", 0.0), ("30", None), ("1m", None), (30, None), (None, None)],
)
def test_google_durations(value: object, expected_s: float | None) -> None:
    assert seconds_from_google_duration(value) == expected_s


@pytest.mark.parametrize(
    ("kind", "adapter_class"),
    [
        ("openai", OpenAIAdapter),
        ("anthropic", AnthropicAdapter),
        ("gemini", GeminiAdapter),
        ("openai_compatible", OpenAICompatibleAdapter),
    ],
)
async def test_registry_builds_the_adapter_of_each_kind(kind: str, adapter_class: type) -> None:
    async with ProviderClient(httpx.AsyncHTTPTransport()) as client:
        config = ProviderConfig(name=f"my-{kind}", base_url="http://127.0.0.1:1", api_key="k", client=client)
        adapter = build_adapter(kind, config)  # type: ignore[arg-type]

    assert type(adapter) is adapter_class
    assert adapter.name == f"my-{kind}"


@pytest.mark.parametrize("adapter_class", [OpenAIAdapter, AnthropicAdapter, GeminiAdapter])
async def test_hosted_providers_need_a_key(adapter_class: type) -> None:
    async with ProviderClient(httpx.AsyncHTTPTransport()) as client:
        config = ProviderConfig(name="p", base_url="http://127.0.0.1:1", api_key=None, client=client)
        with pytest.raises(ValueError, match="needs an api key"):
            adapter_class(config)
