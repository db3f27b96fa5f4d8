"""OpenAICompatibleAdapter against the fake's vLLM flavour: optional auth, both error shapes, estimated usage."""

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
    ProviderCall,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from workers.providers.client import ProviderClient
from workers.providers.openai_compatible import OpenAICompatibleAdapter

MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def adapter_for(
    fake: RunningFakeProvider, client: ProviderClient, api_key: str | None = None, flavour: str = "vllm"
) -> OpenAICompatibleAdapter:
    return OpenAICompatibleAdapter(fake_config(fake, client, name="local", path=f"/{flavour}/v1", api_key=api_key))


def make_call(**overrides: object) -> ProviderCall:
    prompt = (("system", "Réponds brièvement."), ("user", "Quelle heure est-il à Dhaka"))
    return provider_call(MODEL, prompt, 40, **overrides)


async def test_sends_max_tokens_and_no_auth_without_a_key(fake: RunningFakeProvider, client: ProviderClient) -> None:
    call = make_call(max_tokens_field="max_completion_tokens", temperature=0.0)
    await adapter_for(fake, client).complete(call)

    request = only_request(fake)
    assert_json_post(request, "/vllm/v1/chat/completions")
    assert "authorization" not in request["headers"]
    assert request["json"] == {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "Réponds brièvement."},
            {"role": "user", "content": "Quelle heure est-il à Dhaka"},
        ],
        "max_tokens": 40,
        "temperature": 0.0,
    }


async def test_sends_bearer_when_a_key_is_configured(fake: RunningFakeProvider, client: ProviderClient) -> None:
    await adapter_for(fake, client, api_key="local-key").complete(make_call())

    request = only_request(fake)
    assert request["headers"]["authorization"] == "Bearer local-key"


async def test_reported_usage_is_used(fake: RunningFakeProvider, client: ProviderClient) -> None:
    result = await adapter_for(fake, client).complete(make_call())

    assert result.usage_estimated is False
    assert result.input_tokens == tokens.count_prompt_tokens(
        ["Réponds brièvement.", "Quelle heure est-il à Dhaka"], MODEL
    )
    assert result.output_tokens == tokens.DEFAULT_OUTPUT_TOKENS
    assert result.finish_reason == "stop"


async def test_missing_usage_is_estimated_conservatively(fake: RunningFakeProvider, client: ProviderClient) -> None:
    fake.set_scenario(MODEL, omit_usage=True, output_tokens=6)
    result = await adapter_for(fake, client).complete(make_call())

    system, user = "Réponds brièvement.", "Quelle heure est-il à Dhaka"
    assert result.usage_estimated is True
    assert result.text == "Echo: Quelle heure est-il à Dhaka"
    assert result.input_tokens == len(system.encode()) + 4 + len(user.encode()) + 4 == 57
    assert result.output_tokens == len(result.text.encode()) == 34
    # Never below what the server would have billed.
    assert result.input_tokens >= tokens.count_prompt_tokens([system, user], MODEL)
    assert result.output_tokens >= 6


async def test_estimated_output_never_exceeds_the_bound(fake: RunningFakeProvider, client: ProviderClient) -> None:
    fake.set_scenario(MODEL, omit_usage=True)
    result = await adapter_for(fake, client).complete(make_call(max_tokens=5))

    assert result.usage_estimated is True
    assert result.output_tokens == 5


@pytest.mark.parametrize(
    ("status", "error_class", "code"),
    [
        (400, ProviderRejected, "invalid_request"),
        (404, ProviderUnavailable, "upstream_not_found"),
        (500, ProviderUnavailable, "upstream_error"),
        (503, ProviderUnavailable, "upstream_unavailable"),
    ],
)
async def test_old_vllm_error_shape(
    fake: RunningFakeProvider, client: ProviderClient, status: int, error_class: type[Exception], code: str
) -> None:
    fake.set_scenario(MODEL, fail_status=status)

    with pytest.raises(error_class) as caught:
        await adapter_for(fake, client).complete(make_call())

    assert type(caught.value) is error_class
    assert caught.value.code == code  # type: ignore[attr-defined]
    assert caught.value.status == status  # type: ignore[attr-defined]
    # The message comes from the flat body, not a generic fallback.
    assert caught.value.message.startswith(  # type: ignore[attr-defined]
        f"The fake provider failed this request with status {status}"
    )


async def test_wrapped_error_shape(fake: RunningFakeProvider, client: ProviderClient) -> None:
    fake.set_scenario(MODEL, fail_status=429, retry_after_s=3)

    with pytest.raises(ProviderRateLimited) as caught:
        await adapter_for(fake, client, api_key="k", flavour="openai").complete(make_call())

    assert caught.value.retriable is True
    assert caught.value.retry_after_s == 3
    assert "rate_limit_exceeded" in caught.value.message
