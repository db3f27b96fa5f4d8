"""GeminiAdapter over real HTTP against the fake provider: the exact request, the mapped result, the errors."""

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
from workers.providers.gemini import GeminiAdapter

MODEL = "gemini-2.5-flash"


def adapter_for(fake: RunningFakeProvider, client: ProviderClient, api_key: str = "AIza-test") -> GeminiAdapter:
    return GeminiAdapter(fake_config(fake, client, name="gemini", path="/gemini", api_key=api_key))


def make_call(*messages: tuple[str, str], **overrides: object) -> ProviderCall:
    return provider_call(MODEL, messages or (("user", "What is the capital of France"),), 32, **overrides)


async def test_sends_the_exact_request(fake: RunningFakeProvider, client: ProviderClient) -> None:
    call = make_call(
        ("system", "Answer in one word."),
        ("user", "Capital of France?"),
        ("assistant", "Paris"),
        ("user", "And Spain?"),
        temperature=0.7,
        top_p=0.9,
        stop=("END",),
    )
    await adapter_for(fake, client).complete(call)

    request = only_request(fake)
    assert_json_post(request, f"/gemini/v1beta/models/{MODEL}:generateContent")
    assert request["query"] == {}, "the key must not travel in the URL"
    assert request["headers"]["x-goog-api-key"] == "AIza-test"
    assert request["json"] == {
        "contents": [
            {"role": "user", "parts": [{"text": "Capital of France?"}]},
            {"role": "model", "parts": [{"text": "Paris"}]},
            {"role": "user", "parts": [{"text": "And Spain?"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Answer in one word."}]},
        "generationConfig": {"maxOutputTokens": 32, "temperature": 0.7, "topP": 0.9, "stopSequences": ["END"]},
    }


async def test_maps_text_tokens_and_finish(fake: RunningFakeProvider, client: ProviderClient) -> None:
    result = await adapter_for(fake, client).complete(make_call(max_tokens=3))

    assert result.text == "Echo: What is"
    assert result.input_tokens == tokens.count_prompt_tokens(["What is the capital of France"]) == 9
    assert result.output_tokens == 3
    assert result.finish_reason == "MAX_TOKENS"
    assert result.upstream_model == MODEL


async def test_output_tokens_include_thoughts(fake: RunningFakeProvider, client: ProviderClient) -> None:
    fake.set_scenario(MODEL, reasoning_tokens=10, output_tokens=4)
    result = await adapter_for(fake, client).complete(make_call())

    assert result.output_tokens == 14
    assert result.finish_reason == "STOP"
    assert len(result.text.split()) == 4


async def test_blocked_prompt_is_rejected_as_content_blocked(fake: RunningFakeProvider, client: ProviderClient) -> None:
    fake.set_scenario(MODEL, block_reason="SAFETY")

    with pytest.raises(ProviderRejected) as caught:
        await adapter_for(fake, client).complete(make_call())

    assert caught.value.code == "content_blocked"
    assert caught.value.retriable is False
    assert "SAFETY" in caught.value.message


async def test_api_key_invalid_is_auth_failure(fake: RunningFakeProvider, client: ProviderClient) -> None:
    with pytest.raises(ProviderAuthFailed) as caught:
        await adapter_for(fake, client, api_key="invalid-key").complete(make_call())

    assert caught.value.status == 400
    assert caught.value.retriable is False
    assert "API_KEY_INVALID" in caught.value.message


@pytest.mark.parametrize(("retry_after_s", "expected_s"), [(30, 30.0), (1.5, 1.5)])
async def test_retry_info_sets_retry_after(
    fake: RunningFakeProvider, client: ProviderClient, retry_after_s: float, expected_s: float
) -> None:
    fake.set_scenario(MODEL, fail_status=429, retry_after_s=retry_after_s)

    with pytest.raises(ProviderRateLimited) as caught:
        await adapter_for(fake, client).complete(make_call())

    assert caught.value.retriable is True
    assert caught.value.retry_after_s == expected_s
    assert "RESOURCE_EXHAUSTED" in caught.value.message


async def test_unavailable_timeout_and_malformed(fake: RunningFakeProvider, client: ProviderClient) -> None:
    adapter = adapter_for(fake, client)
    fake.set_scenario(MODEL, fail_status=503)
    with pytest.raises(ProviderUnavailable):
        await adapter.complete(make_call())

    fake.set_scenario(MODEL, timeout=True)
    with pytest.raises(ProviderTimeout):
        await adapter.complete(make_call(timeout_s=0.2))

    fake.set_scenario(MODEL, malformed_body=True)
    with pytest.raises(ProviderProtocolError):
        await adapter.complete(make_call())

    fake.set_scenario(MODEL, wrong_shape=True)
    with pytest.raises(ProviderProtocolError, match="usageMetadata"):
        await adapter.complete(make_call())
