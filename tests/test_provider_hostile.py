"""Hostile provider answers, in every wire format over real HTTP against the fake provider.

NUL and control characters in answers and error texts, token counts no real provider sends, answers too
large to deliver, and connections refused: each ends as a safe text, a ProviderProtocolError, or the right
error class, never as something that breaks the book downstream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from fakeprovider.testing import RunningFakeProvider
from schemas.errors import ERRORS, ErrorCode
from schemas.events import UsageRecorded, decode, encode
from tests.provider_harness import (
    clean_fake_fixture,  # noqa: F401
    client_fixture,  # noqa: F401
    fake_config,
    fake_fixture,  # noqa: F401
    provider_call,
)
from tests.test_provider_openai import socket_bound_but_not_listening
from workers.app import new_http_client
from workers.execution import job_code
from workers.providers.anthropic import AnthropicAdapter
from workers.providers.base import (
    ProviderAdapter,
    ProviderCall,
    ProviderConfig,
    ProviderError,
    ProviderProtocolError,
    ProviderTimeout,
    ProviderUnavailable,
)
from workers.providers.client import ProviderClient
from workers.providers.errors import ERROR_MESSAGE_CHARS_MAX
from workers.providers.gemini import GeminiAdapter
from workers.providers.openai import OpenAIAdapter
from workers.providers.openai_compatible import OpenAICompatibleAdapter
from workers.providers.wire import TOKEN_COUNT_MAX
from workers.settings import WorkerSettings


@dataclass(frozen=True)
class Wire:
    """One wire format: its adapter, where it lives on the fake, and a model name the fake scripts."""

    name: str
    path: str
    build: Callable[[ProviderConfig], ProviderAdapter]
    model: str


WIRES = [
    Wire("openai", "/openai/v1", OpenAIAdapter, "gpt-4o"),
    Wire("openai_compatible", "/vllm/v1", OpenAICompatibleAdapter, "meta-llama/Llama-3.1-8B-Instruct"),
    Wire("anthropic", "/anthropic", AnthropicAdapter, "claude-sonnet-4"),
    Wire("gemini", "/gemini", GeminiAdapter, "gemini-2.5-flash"),
]
BY_NAME = pytest.mark.parametrize("wire", WIRES, ids=[wire.name for wire in WIRES])


def adapter(
    wire: Wire, fake: RunningFakeProvider, client: ProviderClient, response_max_bytes: int | None = None
) -> ProviderAdapter:
    config = fake_config(fake, client, name=wire.name, path=wire.path, api_key="sk-test")
    if response_max_bytes is not None:
        config = ProviderConfig(config.name, config.base_url, config.api_key, client, response_max_bytes)
    return wire.build(config)


def call(wire: Wire, **overrides: object) -> ProviderCall:
    return provider_call(wire.model, (("user", "say something odd"),), 50, **overrides)


@BY_NAME
async def test_nul_in_an_answer_becomes_the_replacement_character_and_control_characters_stay(
    wire: Wire, fake: RunningFakeProvider, client: ProviderClient
) -> None:
    hostile = "a\x00b\x01c\x1b[31m\u2028d\x7f\x00"
    fake.set_scenario(wire.model, answer_text=hostile)

    result = await adapter(wire, fake, client).complete(call(wire))

    assert result.text == "a\ufffdb\x01c\x1b[31m\u2028d\x7f\ufffd"
    # The answer travels in a usage event and comes out the same.
    usage = UsageRecorded(workspace_id="ws", job_id="job", outcome="completed", answer=result.text)
    assert decode(UsageRecorded, encode(usage)).answer == result.text


@BY_NAME
async def test_nul_and_control_characters_in_an_error_text_are_carried_safely(
    wire: Wire, fake: RunningFakeProvider, client: ProviderClient
) -> None:
    fake.set_scenario(wire.model, fail_status=500, error_message="broke\x00down\x07 " + "x" * 50_000)

    with pytest.raises(ProviderUnavailable) as caught:
        await adapter(wire, fake, client).complete(call(wire))

    assert "broke\ufffddown\x07" in caught.value.message
    assert "\x00" not in caught.value.message
    assert len(caught.value.message) < ERROR_MESSAGE_CHARS_MAX + 200


ABSURD_COUNTS = [-1, -(2**63), 2**63, 2**64 - 1, TOKEN_COUNT_MAX + 1, 1.5, 7.0, True, "7", [7], {"n": 7}]


@BY_NAME
@pytest.mark.parametrize("knob", ["usage_input_tokens", "usage_output_tokens"])
@pytest.mark.parametrize("count", ABSURD_COUNTS, ids=repr)
async def test_a_token_count_no_provider_could_mean_is_a_protocol_error(
    wire: Wire, fake: RunningFakeProvider, client: ProviderClient, knob: str, count: object
) -> None:
    fake.set_scenario(wire.model, **{knob: count})

    with pytest.raises(ProviderProtocolError) as caught:
        await adapter(wire, fake, client).complete(call(wire))

    assert caught.value.retriable is True
    assert "token count" in caught.value.message
    # Which the pool ends as a 502 upstream_error: nothing is charged for an answer we cannot bill.
    assert job_code(caught.value) is ErrorCode.UPSTREAM_ERROR
    assert ERRORS[job_code(caught.value)].status == 502


@BY_NAME
async def test_the_largest_sane_count_is_accepted(
    wire: Wire, fake: RunningFakeProvider, client: ProviderClient
) -> None:
    fake.set_scenario(wire.model, usage_output_tokens=TOKEN_COUNT_MAX)

    result = await adapter(wire, fake, client).complete(call(wire))

    assert result.output_tokens == TOKEN_COUNT_MAX


@BY_NAME
@pytest.mark.parametrize("chunked", [False, True], ids=["with-length", "chunked"])
async def test_an_answer_over_the_limit_is_refused_and_not_retried(
    wire: Wire, fake: RunningFakeProvider, client: ProviderClient, chunked: bool
) -> None:
    fake.set_scenario(wire.model, answer_bytes=200_000, chunked=chunked)

    with pytest.raises(ProviderProtocolError) as caught:
        await adapter(wire, fake, client, response_max_bytes=100_000).complete(call(wire))

    assert caught.value.retriable is False
    assert caught.value.code == "upstream_answer_too_large"
    assert "100000 bytes" in caught.value.message
    assert job_code(caught.value) is ErrorCode.UPSTREAM_ERROR


@BY_NAME
@pytest.mark.parametrize("chunked", [False, True], ids=["with-length", "chunked"])
async def test_an_answer_under_the_limit_is_delivered_whole(
    wire: Wire, fake: RunningFakeProvider, client: ProviderClient, chunked: bool
) -> None:
    fake.set_scenario(wire.model, answer_bytes=60_000, chunked=chunked)

    result = await adapter(wire, fake, client, response_max_bytes=100_000).complete(call(wire))

    assert len(result.text.encode()) == 60_000
    assert result.output_tokens > 0 and result.finish_reason is not None


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
@BY_NAME
async def test_a_refused_connection_is_a_502_upstream_error_on_either_transport(wire: Wire, transport: str) -> None:
    settings = WorkerSettings(http_transport=transport)  # type: ignore[arg-type]
    async with new_http_client(settings) as client:
        with socket_bound_but_not_listening() as port:
            config = ProviderConfig(wire.name, f"http://127.0.0.1:{port}{wire.path}", "sk-test", client)
            with pytest.raises(ProviderError) as caught:
                await wire.build(config).complete(call(wire, timeout_s=5.0))

    assert type(caught.value) is ProviderUnavailable, caught.value
    assert caught.value.retriable is True
    assert caught.value.code == "upstream_unavailable"
    assert job_code(caught.value) is ErrorCode.UPSTREAM_ERROR
    assert ERRORS[job_code(caught.value)].status == 502


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_a_provider_too_slow_to_answer_stays_a_504_on_either_transport(
    fake: RunningFakeProvider, transport: str
) -> None:
    wire = WIRES[0]
    fake.set_scenario(wire.model, timeout=True)
    async with new_http_client(WorkerSettings(http_transport=transport)) as client:  # type: ignore[arg-type]
        with pytest.raises(ProviderError) as caught:
            await adapter(wire, fake, client).complete(call(wire, timeout_s=0.3))

    assert type(caught.value) is ProviderTimeout
    assert job_code(caught.value) is ErrorCode.UPSTREAM_TIMEOUT
    assert ERRORS[job_code(caught.value)].status == 504
