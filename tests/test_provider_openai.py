"""OpenAIAdapter over real HTTP against the fake provider: the exact request, the mapped result, the errors."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

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
    status_cases,
)
from workers.providers.base import (
    ProviderAuthFailed,
    ProviderCall,
    ProviderConfig,
    ProviderProtocolError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from workers.providers.client import ProviderClient
from workers.providers.openai import OpenAIAdapter


def adapter_for(fake: RunningFakeProvider, client: ProviderClient, api_key: str = "sk-test") -> OpenAIAdapter:
    return OpenAIAdapter(fake_config(fake, client, name="openai", path="/openai/v1", api_key=api_key))


def make_call(**overrides: object) -> ProviderCall:
    return provider_call("gpt-4o", (("system", "Be terse."), ("user", "Name three primes please")), 50, **overrides)


async def test_sends_the_exact_request(fake: RunningFakeProvider, client: ProviderClient) -> None:
    call = make_call(temperature=0.2, top_p=0.9, stop=("END",))
    await adapter_for(fake, client).complete(call)

    request = only_request(fake)
    assert_json_post(request, "/openai/v1/chat/completions")
    assert request["query"] == {}
    assert request["headers"]["authorization"] == "Bearer sk-test"
    assert request["json"] == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Name three primes please"},
        ],
        "max_tokens": 50,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["END"],
    }


async def test_leaves_out_sampling_fields_that_are_not_set(fake: RunningFakeProvider, client: ProviderClient) -> None:
    await adapter_for(fake, client).complete(make_call())

    request = only_request(fake)
    assert set(request["json"]) == {"model", "messages", "max_tokens"}


async def test_reasoning_model_gets_max_completion_tokens(fake: RunningFakeProvider, client: ProviderClient) -> None:
    call = make_call(upstream_model="gpt-5-mini", max_tokens_field="max_completion_tokens")
    result = await adapter_for(fake, client).complete(call)

    request = only_request(fake)
    assert request["json"]["max_completion_tokens"] == 50
    assert "max_tokens" not in request["json"]
    assert result.upstream_model == "gpt-5-mini"


async def test_maps_text_tokens_finish_and_request_id(fake: RunningFakeProvider, client: ProviderClient) -> None:
    result = await adapter_for(fake, client).complete(make_call())

    assert result.text == "Echo: Name three primes please" + " echo" * 11
    assert result.input_tokens == tokens.count_prompt_tokens(["Be terse.", "Name three primes please"]) == 12
    assert result.output_tokens == tokens.DEFAULT_OUTPUT_TOKENS
    assert result.finish_reason == "stop"
    assert result.upstream_model == "gpt-4o"
    assert result.request_id is not None
    assert result.request_id.startswith("req_fake_")
    assert result.usage_estimated is False


async def test_output_bound_gives_length_finish(fake: RunningFakeProvider, client: ProviderClient) -> None:
    result = await adapter_for(fake, client).complete(make_call(max_tokens=3))

    assert result.text == "Echo: Name three"
    assert result.output_tokens == 3
    assert result.finish_reason == "length"


async def test_output_tokens_include_reasoning(fake: RunningFakeProvider, client: ProviderClient) -> None:
    fake.set_scenario("o3", reasoning_tokens=20, output_tokens=5)
    call = make_call(upstream_model="o3", max_tokens_field="max_completion_tokens")
    result = await adapter_for(fake, client).complete(call)

    assert result.output_tokens == 25
    assert len(result.text.split()) == 5


async def test_rate_limit_is_retriable_with_retry_after(fake: RunningFakeProvider, client: ProviderClient) -> None:
    fake.set_scenario("gpt-4o", fail_status=429, retry_after_s=2)

    with pytest.raises(ProviderRateLimited) as caught:
        await adapter_for(fake, client).complete(make_call())

    assert caught.value.retriable is True
    assert caught.value.retry_after_s == 2
    assert caught.value.status == 429
    assert caught.value.code == "rate_limited"
    assert "rate_limit_exceeded" in caught.value.message


async def test_insufficient_quota_is_not_retriable(fake: RunningFakeProvider, client: ProviderClient) -> None:
    fake.set_scenario("gpt-4o", fail_status=429, error_code="insufficient_quota", retry_after_s=5)

    with pytest.raises(ProviderRateLimited) as caught:
        await adapter_for(fake, client).complete(make_call())

    assert caught.value.retriable is False
    assert caught.value.code == "quota_exhausted"
    assert caught.value.retry_after_s is None


@pytest.mark.parametrize(("status", "error_class", "retriable", "code"), status_cases(500, 503, 400, 404, 403))
async def test_status_maps_to_error_class(
    fake: RunningFakeProvider,
    client: ProviderClient,
    status: int,
    error_class: type[Exception],
    retriable: bool,
    code: str,
) -> None:
    fake.set_scenario("gpt-4o", fail_status=status)

    with pytest.raises(error_class) as caught:
        await adapter_for(fake, client).complete(make_call())

    assert type(caught.value) is error_class
    assert caught.value.retriable is retriable  # type: ignore[attr-defined]
    assert caught.value.code == code  # type: ignore[attr-defined]
    assert caught.value.status == status  # type: ignore[attr-defined]


async def test_invalid_key_is_auth_failure(fake: RunningFakeProvider, client: ProviderClient) -> None:
    with pytest.raises(ProviderAuthFailed) as caught:
        await adapter_for(fake, client, api_key="invalid-key").complete(make_call())

    assert caught.value.status == 401
    assert caught.value.retriable is False
    assert "invalid_api_key" in caught.value.message


async def test_fake_refusal_of_max_tokens_on_gpt5_is_rejected(
    fake: RunningFakeProvider, client: ProviderClient
) -> None:
    with pytest.raises(ProviderRejected) as caught:
        await adapter_for(fake, client).complete(make_call(upstream_model="gpt-5"))

    assert "Use 'max_completion_tokens' instead" in caught.value.message


async def test_no_answer_within_timeout_is_provider_timeout(fake: RunningFakeProvider, client: ProviderClient) -> None:
    fake.set_scenario("gpt-4o", timeout=True)
    started = time.monotonic()

    with pytest.raises(ProviderTimeout) as caught:
        await adapter_for(fake, client).complete(make_call(timeout_s=0.3))

    assert caught.value.retriable is True
    assert time.monotonic() - started < 2


async def test_malformed_2xx_is_protocol_error(fake: RunningFakeProvider, client: ProviderClient) -> None:
    fake.set_scenario("gpt-4o", malformed_body=True)

    with pytest.raises(ProviderProtocolError) as caught:
        await adapter_for(fake, client).complete(make_call())

    assert caught.value.status == 200
    assert caught.value.retriable is True


async def test_wrong_shape_2xx_is_protocol_error(fake: RunningFakeProvider, client: ProviderClient) -> None:
    fake.set_scenario("gpt-4o", wrong_shape=True)

    with pytest.raises(ProviderProtocolError, match="choices"):
        await adapter_for(fake, client).complete(make_call())


async def test_missing_usage_from_openai_is_protocol_error(fake: RunningFakeProvider, client: ProviderClient) -> None:
    fake.set_scenario("gpt-4o", omit_usage=True)

    with pytest.raises(ProviderProtocolError, match="usage"):
        await adapter_for(fake, client).complete(make_call())


async def test_refused_connection_is_unavailable(client: ProviderClient) -> None:
    with socket_bound_but_not_listening() as port:
        config = ProviderConfig(name="openai", base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-test", client=client)
        with pytest.raises(ProviderUnavailable) as caught:
            await OpenAIAdapter(config).complete(make_call())

    assert caught.value.retriable is True
    assert caught.value.code == "upstream_unavailable"


@contextmanager
def socket_bound_but_not_listening() -> Iterator[int]:
    """A bound port nobody listens on: connecting is refused, and no other process can take the port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        yield port
