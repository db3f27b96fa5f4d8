"""The adapters' HTTP client (workers/providers/client.py) over real local HTTP, on both worker transports.

It sends what `httpx.AsyncClient` sent (same URL, headers, body, per-phase timeout), and leaves out what a
provider call must not do: no cookie a provider sets travels with a later call (the client is shared by
every workspace), and a redirect is the provider's answer, never followed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import orjson
import pytest

from fakeprovider.testing import RunningFakeProvider
from tests.provider_harness import (
    clean_fake_fixture,  # noqa: F401
    fake_fixture,  # noqa: F401
    provider_call,
)
from workers.app import new_http_client
from workers.providers.base import ProviderCall, ProviderConfig, ProviderProtocolError
from workers.providers.client import ProviderClient
from workers.providers.openai import OpenAIAdapter
from workers.providers.streams.chat_stream import ChatCompletionsStream
from workers.providers.streams.contract import StreamPiece
from workers.settings import WorkerSettings

TRANSPORTS = pytest.mark.parametrize("transport", ["aiohttp", "httpx"])

CHAT_BODY = orjson.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
)
STREAM_BODY = b"".join(
    b"data: " + orjson.dumps(chunk) + b"\n\n"
    for chunk in [
        {"model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]},
        {"model": "gpt-4o", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}},
    ]
) + (b"data: [DONE]\n\n")


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


@dataclass
class ProviderStub:
    """A local HTTP server that answers the n-th request (0-based) with `script(n)` and records each one."""

    script: Callable[[int], Reply]
    received: list[Seen] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> ProviderStub:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            lines = [line for line in head[1:] if line]
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
            await reader.readexactly(int(headers.get("content-length", "0")))
            reply = self.script(len(self.received))
            self.received.append(Seen(head[0].split()[1], headers))
            extra = "".join(f"{name}: {value}\r\n" for name, value in reply.headers.items())
            status_and_length = f"HTTP/1.1 {reply.status} X\r\ncontent-length: {len(reply.body)}\r\n"
            writer.write(f"{status_and_length}{extra}connection: close\r\n\r\n".encode() + reply.body)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def chat_call() -> ProviderCall:
    return provider_call("gpt-4o", (("user", "hello"),), 16, timeout_s=10.0)


def config_for(client: ProviderClient, port: int) -> ProviderConfig:
    # A host name, not 127.0.0.1: aiohttp's default cookie jar ignores cookies of IP addresses.
    return ProviderConfig("openai", f"http://localhost:{port}/v1", "sk-test", client)


def test_a_request_is_the_one_build_request_builds_and_cached_parts_stay_unchanged() -> None:
    url = "http://localhost:9/v1/models/a%2Fb:generateContent?alt=sse"
    headers = {"authorization": "Bearer sk-test", "content-type": "application/json", "accept": "text/event-stream"}
    transport = httpx.AsyncHTTPTransport()
    reference = httpx.AsyncClient(transport=transport).build_request(
        "POST", url, content=b"{}", headers=headers, timeout=7.5
    )
    client = ProviderClient(transport)

    first = client.build_post(url, headers, b"{}", 7.5)
    first.headers["x-changed-after"] = "1"
    second = client.build_post(url, dict(headers), b"{}", 7.5)

    for built in (first, second):
        assert built.method == reference.method
        assert built.url == reference.url
        assert built.content == reference.content
        assert built.extensions == reference.extensions
    assert second.headers.raw == reference.headers.raw


@TRANSPORTS
async def test_a_cookie_a_provider_sets_is_never_sent_with_a_later_call(transport: str) -> None:
    cookie = {"set-cookie": "affinity=workspace-a; Path=/; Max-Age=3600"}

    def script(n: int) -> Reply:
        if n == 2:
            return Reply(200, {**cookie, "content-type": "text/event-stream"}, STREAM_BODY)
        return Reply(200, {**cookie, "content-type": "application/json"}, CHAT_BODY)

    async def ignore(_piece: StreamPiece) -> None:
        pass

    settings = WorkerSettings(http_transport=transport)  # type: ignore[arg-type]
    async with ProviderStub(script) as stub, new_http_client(settings) as client:
        config = config_for(client, stub.port)
        first = await OpenAIAdapter(config).complete(chat_call())
        await OpenAIAdapter(config).complete(chat_call())
        streamed = await ChatCompletionsStream(config, usage_required=True).stream(chat_call(), ignore)
        await OpenAIAdapter(config).complete(chat_call())

    assert (first.text, streamed.text) == ("hi", "hi")
    assert [seen.headers.get("cookie") for seen in stub.received] == [None, None, None, None]


@TRANSPORTS
async def test_a_redirect_is_handed_back_as_an_error_status_not_followed(transport: str) -> None:
    def script(n: int) -> Reply:
        if n == 0:
            return Reply(307, {"location": "/v1/elsewhere"})
        return Reply(200, {"content-type": "application/json"}, CHAT_BODY)

    settings = WorkerSettings(http_transport=transport)  # type: ignore[arg-type]
    async with ProviderStub(script) as stub, new_http_client(settings) as client:
        with pytest.raises(ProviderProtocolError) as caught:
            await OpenAIAdapter(config_for(client, stub.port)).complete(chat_call())

    assert caught.value.status == 307
    assert caught.value.retriable is True
    assert [seen.path for seen in stub.received] == ["/v1/chat/completions"]


@TRANSPORTS
async def test_the_per_request_timeout_fires_on_its_own(fake: RunningFakeProvider, transport: str) -> None:
    fake.set_scenario("gpt-4o", timeout=True)
    body = orjson.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5})
    headers = {"authorization": "Bearer sk-test", "content-type": "application/json"}
    settings = WorkerSettings(http_transport=transport)  # type: ignore[arg-type]
    async with new_http_client(settings) as client:
        request = client.build_post(f"{fake.url}/openai/v1/chat/completions", headers, body, 0.3)
        started = time.monotonic()
        # No call deadline here: only the request's own timeout can end the wait (the guard fails the test).
        async with asyncio.timeout(10):
            with pytest.raises(httpx.ReadTimeout):
                await client.send(request)

    assert time.monotonic() - started < 5


@TRANSPORTS
async def test_a_proxy_named_in_the_environment_carries_calls_no_proxy_exempts(
    transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def script(_n: int) -> Reply:
        return Reply(200, {"set-cookie": "affinity=a; Path=/", "content-type": "application/json"}, CHAT_BODY)

    settings = WorkerSettings(http_transport=transport)  # type: ignore[arg-type]
    async with ProviderStub(script) as proxy, ProviderStub(script) as direct:
        for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("NO_PROXY", "localhost")
        async with new_http_client(settings) as client:
            # A host that resolves nowhere: only the proxy can answer for it.
            proxied = ProviderConfig("openai", "http://provider.invalid/v1", "sk-test", client)
            answers = [await OpenAIAdapter(proxied).complete(chat_call()) for _ in range(2)]
            exempt = await OpenAIAdapter(config_for(client, direct.port)).complete(chat_call())

    assert [answer.text for answer in [*answers, exempt]] == ["hi", "hi", "hi"]
    assert [seen.path for seen in proxy.received] == ["http://provider.invalid/v1/chat/completions"] * 2
    assert [seen.headers.get("cookie") for seen in proxy.received] == [None, None]
    assert [seen.path for seen in direct.received] == ["/v1/chat/completions"]
