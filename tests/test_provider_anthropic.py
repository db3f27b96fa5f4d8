"""AnthropicAdapter over real HTTP against the fake provider: the exact request, the mapped result, the errors."""

from __future__ import annotations

import pytest

from fakeprovider import tokens
from fakeprovider.testing import RunningFakeProvider
from tests.provider_harness import (
    assert_json_post,
    clean_fake_fixture,  # noqa: F401
    client_fixture,  # noqa: F401
    fake_config,
    fake_fixture,  # noqa: F401
    only_request,
    provider_call,
)
from workers.providers.anthropic import AnthropicAdapter
from workers.providers.base import (
    ProviderAuthFailed,
    ProviderCall,
    ProviderProtocolError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from workers.providers.client import ProviderClient

MODEL = "claude-sonnet-4-5"


def adapter_for(fake: RunningFakeProvider, client: ProviderClient, api_key: str = "sk-ant-test") -> AnthropicAdapter:
    return AnthropicAdapter(fake_config(fake, client, name="anthropic", path="/anthropic", api_key=api_key))


def make_call(*messages: tuple[str, str], **overrides: object) -> ProviderCall:
    return provider_call(MODEL, messages or (("user", "Say hello to the world"),), 64, **overrides)


async def test_sends_the_exact_request(fake: RunningFakeProvider, client: ProviderClient) -> None:
    call = make_call(
        ("system", "You are terse."),
        ("user", "Hi"),
        ("user", "Are you there?"),
        ("assistant", "Yes."),
        ("system", "Answer in English."),
        ("user", "Good"),
        temperature=0.5,
        top_p=0.8,
        stop=("STOP", "END"),
    )
    await adapter_for(fake, client).complete(call)

    request = only_request(fake)
    assert_json_post(request, "/anthropic/v1/messages")
    assert request["headers"]["x-api-key"] == "sk-ant-test"
    assert request["headers"]["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request["headers"]
    assert request["json"] == {
        "model": MODEL,
        "max_tokens": 64,
        "system": "You are terse.\n\nAnswer in English.",
        "messages": [
            {"role": "user", "content": "Hi\n\nAre you there?"},
            {"role": "assistant", "content": "Yes."},
            {"role": "user", "content": "Good"},
        ],
        "temperature": 0.5,
        "top_p": 0.8,
        "stop_sequences": ["STOP", "END"],
    }


async def test_maps_text_tokens_finish_and_request_id(fake: RunningFakeProvider, client: ProviderClient) -> None:
    call = make_call(("system", "Be brief."), ("user", "Say hello to the world"), max_tokens=4)
    result = await adapter_for(fake, client).complete(call)

    assert result.text == "Echo: Say hello to"
    assert result.input_tokens == tokens.count_prompt_tokens(["Be brief.", "Say hello to the world"]) == 13
    assert result.output_tokens == 4
    assert result.finish_reason == "max_tokens"
    assert result.upstream_model == MODEL
    assert result.request_id is not None
    assert result.request_id.startswith("req_fake_")


async def test_input_tokens_include_cache_reads_and_writes(fake: RunningFakeProvider, client: ProviderClient) -> None:
    fake.set_scenario(MODEL, cache_read_tokens=3, cache_creation_tokens=2)
    result = await adapter_for(fake, client).complete(make_call())

    # The fake reports input_tokens=3 plus 3 read and 2 written cache tokens; the prompt is all of them.
    assert result.input_tokens == tokens.count_prompt_tokens(["Say hello to the world"]) == 8
    assert result.finish_reason == "end_turn"


async def test_overloaded_529_is_retriable_unavailable(fake: RunningFakeProvider, client: ProviderClient) -> None:
    fake.set_scenario(MODEL, fail_status=529)

    with pytest.raises(ProviderUnavailable) as caught:
        await adapter_for(fake, client).complete(make_call())

    assert caught.value.retriable is True
    assert caught.value.status == 529
    assert "overloaded_error" in caught.value.message


async def test_rate_limit_carries_retry_after(fake: RunningFakeProvider, client: ProviderClient) -> None:
    fake.set_scenario(MODEL, fail_status=429, retry_after_s=7)

    with pytest.raises(ProviderRateLimited) as caught:
        await adapter_for(fake, client).complete(make_call())

    assert caught.value.retriable is True
    assert caught.value.retry_after_s == 7
    assert "rate_limit_error" in caught.value.message


async def test_spend_limit_is_not_retriable(fake: RunningFakeProvider, client: ProviderClient) -> None:
    fake.set_scenario(MODEL, fail_status=429, error_code="enforced_spend_limit_reached")

    with pytest.raises(ProviderRateLimited) as caught:
        await adapter_for(fake, client).complete(make_call())

    assert caught.value.retriable is False
    assert caught.value.code == "quota_exhausted"


async def test_invalid_key_is_auth_failure(fake: RunningFakeProvider, client: ProviderClient) -> None:
    with pytest.raises(ProviderAuthFailed) as caught:
        await adapter_for(fake, client, api_key="invalid-key").complete(make_call())

    assert caught.value.status == 401
    assert "authentication_error" in caught.value.message


async def test_temperature_above_one_is_refused_before_sending(
    fake: RunningFakeProvider, client: ProviderClient
) -> None:
    with pytest.raises(ProviderRejected, match=r"temperature 0\.\.1, got 1\.5"):
        await adapter_for(fake, client).complete(make_call(temperature=1.5))

    assert fake.recorded_requests() == []


async def test_conversation_must_start_with_user(fake: RunningFakeProvider, client: ProviderClient) -> None:
    call = make_call(("system", "Be brief."), ("assistant", "Hello!"), ("user", "Hi"))

    with pytest.raises(ProviderRejected, match="start with a user message"):
        await adapter_for(fake, client).complete(call)

    assert fake.recorded_requests() == []


async def test_timeout_and_malformed_body(fake: RunningFakeProvider, client: ProviderClient) -> None:
    adapter = adapter_for(fake, client)
    fake.set_scenario(MODEL, timeout=True)
    with pytest.raises(ProviderTimeout):
        await adapter.complete(make_call(timeout_s=0.2))

    fake.set_scenario(MODEL, malformed_body=True)
    with pytest.raises(ProviderProtocolError):
        await adapter.complete(make_call())

    fake.set_scenario(MODEL, wrong_shape=True)
    with pytest.raises(ProviderProtocolError, match="content"):
        await adapter.complete(make_call())
