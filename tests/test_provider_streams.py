"""Each streaming adapter over real HTTP against the fake provider's streams: request, deltas, usage, failures."""

from __future__ import annotations

import pytest

from fakeprovider.testing import RunningFakeProvider
from tests.provider_harness import (
    clean_fake_fixture,  # noqa: F401
    client_fixture,  # noqa: F401
    fake_config,
    fake_fixture,  # noqa: F401
    only_request,
    provider_call,
)
from workers.providers.base import ProviderProtocolError, ProviderRateLimited, ProviderTimeout, ProviderUnavailable
from workers.providers.client import ProviderClient
from workers.providers.streams.contract import StreamAdapter, StreamPiece
from workers.providers.streams.registry import build_stream_adapter

# kind -> (fake path, the path a call must hit, api key, upstream model)
KINDS = {
    "openai": ("/openai/v1", "/openai/v1/chat/completions", "sk-test", "gpt-4.1-mini"),
    "openai_compatible": ("/vllm/v1", "/vllm/v1/chat/completions", None, "llama-3"),
    "anthropic": ("/anthropic", "/anthropic/v1/messages", "sk-ant", "claude-sonnet-4"),
    "gemini": ("/gemini", "/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent", "g-key", "gemini-2.5-flash"),
}


def adapter(kind: str, fake: RunningFakeProvider, client: ProviderClient) -> StreamAdapter:
    path, _, key, _ = KINDS[kind]
    return build_stream_adapter(kind, fake_config(fake, client, name=kind, path=path, api_key=key))  # type: ignore[arg-type]


async def collect(stream: StreamAdapter, text: str, **overrides: object) -> tuple[list[str], object]:
    kind = next(k for k, v in KINDS.items() if v[0] and stream.name == k)
    deltas: list[str] = []

    async def sink(piece: StreamPiece) -> None:
        assert isinstance(piece, str), "no tools were offered: text only"
        deltas.append(piece)

    call = provider_call(KINDS[kind][3], (("user", text),), 12, **overrides)
    result = await stream.stream(call, sink)
    return deltas, result


@pytest.mark.parametrize("kind", list(KINDS))
async def test_streams_deltas_and_usage(kind: str, fake: RunningFakeProvider, client: ProviderClient) -> None:
    deltas, result = await collect(adapter(kind, fake, client), "tell me about the sea")
    request = only_request(fake)
    assert request["path"] == KINDS[kind][1]
    if kind == "gemini":
        assert request["query"] == {"alt": "sse"}
    else:
        assert request["json"]["stream"] is True
    if kind.startswith("openai"):
        assert request["json"]["stream_options"] == {"include_usage": True}
    assert len(deltas) > 3, deltas
    assert "".join(deltas) == result.text  # type: ignore[attr-defined]
    assert result.text.startswith("Echo: tell me about the sea")  # type: ignore[attr-defined]
    assert result.input_tokens > 0 and result.output_tokens == 12  # type: ignore[attr-defined]
    assert result.finish_reason in ("length", "max_tokens", "MAX_TOKENS")  # type: ignore[attr-defined]
    assert result.usage_estimated is False  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", list(KINDS))
async def test_a_failure_midway_is_a_retriable_provider_error_after_the_deltas(
    kind: str, fake: RunningFakeProvider, client: ProviderClient
) -> None:
    deltas: list[str] = []

    async def sink(piece: StreamPiece) -> None:
        assert isinstance(piece, str), "no tools were offered: text only"
        deltas.append(piece)

    call = provider_call(KINDS[kind][3], (("user", "one two three four [fake stream_fail_after=2]"),), 12)
    with pytest.raises(ProviderUnavailable) as failed:
        await adapter(kind, fake, client).stream(call, sink)
    assert failed.value.retriable
    assert len(deltas) == 2


@pytest.mark.parametrize("kind", list(KINDS))
async def test_a_cut_stream_is_a_protocol_error(kind: str, fake: RunningFakeProvider, client: ProviderClient) -> None:
    with pytest.raises(ProviderProtocolError, match="ended"):
        await collect(adapter(kind, fake, client), "one two three [fake stream_cut_after=2]")


@pytest.mark.parametrize("kind", list(KINDS))
async def test_a_stream_that_never_ends_is_a_timeout(
    kind: str, fake: RunningFakeProvider, client: ProviderClient
) -> None:
    with pytest.raises(ProviderTimeout):
        await collect(adapter(kind, fake, client), "one two three [fake stream_hang_after=1]", timeout_s=1.0)


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini"])
async def test_absurd_counts_and_nul_in_deltas(kind: str, fake: RunningFakeProvider, client: ProviderClient) -> None:
    fake.set_scenario(KINDS[kind][3], answer_text="a\x00b \x01c\u2028 d", usage_output_tokens=2**63)
    deltas: list[str] = []

    async def sink(piece: StreamPiece) -> None:
        assert isinstance(piece, str), "no tools were offered: text only"
        deltas.append(piece)

    with pytest.raises(ProviderProtocolError, match="token count"):
        await adapter(kind, fake, client).stream(provider_call(KINDS[kind][3], (("user", "x"),), 12), sink)
    assert "\x00" not in "".join(deltas)
    assert "a\ufffdb " in "".join(deltas)


async def test_an_error_before_the_stream_is_the_usual_error(fake: RunningFakeProvider, client: ProviderClient) -> None:
    with pytest.raises(ProviderRateLimited):
        await collect(adapter("anthropic", fake, client), "x [fake fail_status=429]")


async def test_a_compatible_server_without_usage_is_estimated(
    fake: RunningFakeProvider, client: ProviderClient
) -> None:
    fake.set_scenario("llama-3", omit_usage=True)
    deltas, result = await collect(adapter("openai_compatible", fake, client), "hello there")
    assert result.usage_estimated is True  # type: ignore[attr-defined]
    assert result.output_tokens == min(len("".join(deltas).encode()), 12)  # type: ignore[attr-defined]
