"""The fake provider's ASGI application: routing, request recording, scenarios and the admin endpoints.

A plain ASGI callable rather than a framework app, because it is benchmarked at thousands of requests
per second and every route is a dict lookup or one prefix test.

    GET    /healthz                                        {"status": "ok"}
    POST   /openai/v1/chat/completions                     OpenAI (base_url http://host:port/openai/v1)
    POST   /vllm/v1/chat/completions                       old vLLM (base_url http://host:port/vllm/v1)
    POST   /anthropic/v1/messages                          Anthropic (base_url http://host:port/anthropic)
    POST   /gemini/{v1beta|v1}/models/{model}:generateContent   Gemini (base_url http://host:port/gemini)
    POST   /gemini/{v1beta|v1}/models/{model}:streamGenerateContent?alt=sse   Gemini, streamed
    (OpenAI and Anthropic stream with `"stream": true` in the body: fakeprovider/streaming.py)
    POST   /_fake/scenario    {"model": "...", knob: value, ...}   set the scenario of a model ("*" = all)
    GET    /_fake/scenario                                 scenarios by model
    DELETE /_fake/scenario[?model=...]                     reset one or all scenarios and fail counters
    GET    /_fake/requests                                 {"requests": [...]} recorded, oldest first
    DELETE /_fake/requests                                 forget recorded requests
    GET    /_fake/calls        {"calls": {model: {"received", "answered", "in_flight"}}}  valid calls per model
    DELETE /_fake/calls                                    reset the call counters
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import orjson

from fakeprovider.anthropic_api import AnthropicWire
from fakeprovider.gemini_api import GeminiWire
from fakeprovider.generation import Prompt, generate
from fakeprovider.openai_api import OpenAIWire
from fakeprovider.reply import (
    MALFORMED_BODY,
    WRONG_SHAPE_BODY,
    ProviderRequest,
    Reply,
    WireFormat,
    json_reply,
)
from fakeprovider.scenario import ScenarioBook, ScenarioError, directive_in, knobs_from
from fakeprovider.settings import FakeProviderSettings
from fakeprovider.streaming import StreamReply, send_stream, stream_of

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

GEMINI_PREFIX = "/gemini/"
GEMINI_SUFFIX = ":generateContent"
GEMINI_STREAM_SUFFIX = ":streamGenerateContent"
GEMINI_VERSIONS = ("v1beta", "v1")
# The piece size of a chunked answer.
CHUNK_BYTES = 16 * 1024


@dataclasses.dataclass(slots=True)
class CallCount:
    received: int = 0
    answered: int = 0


class FakeProvider:
    """State of one fake server: scenarios, fail counters and the ring buffer of recorded requests."""

    def __init__(self, settings: FakeProviderSettings) -> None:
        self.settings = settings
        self.scenarios = ScenarioBook(counters_max=settings.fail_counters_max)
        self.recorded: deque[dict[str, Any]] = deque(maxlen=settings.recorded_requests_max)
        self._request_ids = itertools.count(1)
        self.wires: dict[str, WireFormat] = {
            "/openai/v1/chat/completions": OpenAIWire(vllm=False),
            "/vllm/v1/chat/completions": OpenAIWire(vllm=True),
            "/anthropic/v1/messages": AnthropicWire(),
        }
        self.gemini = GeminiWire()
        # Valid calls per model: received, and answered (or abandoned); the difference is in flight.
        self.calls: dict[str, CallCount] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"]
        wire = self.wires.get(path)
        path_model = None
        gemini_stream = path.endswith(GEMINI_STREAM_SUFFIX)
        if wire is None and path.startswith(GEMINI_PREFIX) and (path.endswith(GEMINI_SUFFIX) or gemini_stream):
            version, _, rest = path[len(GEMINI_PREFIX) :].partition("/models/")
            if version in GEMINI_VERSIONS:
                suffix = GEMINI_STREAM_SUFFIX if gemini_stream else GEMINI_SUFFIX
                wire, path_model = self.gemini, rest[: -len(suffix)]
        if wire is not None and method == "POST":
            reply = await self._provider_call(wire, path_model, scope, receive)
            if isinstance(reply, StreamReply):
                await send_stream(send, receive, reply, self.settings.hang_max_s)
                return
        elif path == "/healthz" and method == "GET":
            reply = json_reply(200, {"status": "ok"})
        elif path.startswith("/_fake/"):
            reply = await self._admin(path, method, scope, receive)
        else:
            reply = json_reply(404, {"error": f"the fake provider has no route {method} {path}"})
        if reply is not None:
            await _send_reply(send, reply)

    async def _provider_call(
        self, wire: WireFormat, path_model: str | None, scope: Scope, receive: Receive
    ) -> Reply | StreamReply | None:
        raw = await _read_body(receive, self.settings.request_body_max_bytes)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        query_string: bytes = scope["query_string"]
        query = dict(parse_qsl(query_string.decode("latin-1"))) if query_string else {}
        try:
            body: Any = orjson.loads(raw) if raw is not None else None
        except orjson.JSONDecodeError:
            body = None
        self.recorded.append(
            {
                "method": scope["method"],
                "path": scope["path"],
                "query": query,
                "headers": headers,
                "json": body,
            }
        )
        request_id = f"req_fake_{next(self._request_ids)}"
        request = ProviderRequest(headers=headers, query=query, body=body, path_model=path_model)
        rejected = wire.check_auth(request)
        if rejected is not None:
            return rejected
        parsed = wire.parse(request)
        if isinstance(parsed, Reply):
            return parsed
        if path_model is not None and scope["path"].endswith(GEMINI_STREAM_SUFFIX):
            parsed = dataclasses.replace(parsed, stream=True)
        return await self._answer(wire, parsed, receive, request_id)

    async def _answer(
        self, wire: WireFormat, prompt: Prompt, receive: Receive, request_id: str
    ) -> Reply | StreamReply | None:
        count = self._count(prompt.model)
        count.received += 1
        try:
            return await self._scripted_answer(wire, prompt, receive, request_id)
        finally:
            count.answered += 1

    def _count(self, model: str) -> CallCount:
        if model not in self.calls and len(self.calls) >= self.settings.fail_counters_max:
            # A bound on memory, as for the fail counters: forgetting only resets the counts.
            self.calls.clear()
        return self.calls.setdefault(model, CallCount())

    async def _scripted_answer(
        self, wire: WireFormat, prompt: Prompt, receive: Receive, request_id: str
    ) -> Reply | StreamReply | None:
        try:
            plan = self.scenarios.plan(prompt.model, directive_in(prompt.last_user_text))
        except ScenarioError as exc:
            return json_reply(400, {"error": f"fake provider directive invalid: {exc}"})
        scenario = plan.scenario
        if scenario.latency_ms:
            await asyncio.sleep(scenario.latency_ms / 1000)
        if scenario.timeout:
            # Hold the request until the client gives up (it disconnects), bounded so shutdown never hangs.
            await _wait_for_disconnect(receive, self.settings.hang_max_s)
            return None
        if plan.fails:
            assert scenario.fail_status is not None
            return wire.error(
                scenario.fail_status, scenario.error_code, scenario.retry_after_s, request_id, scenario.error_message
            )
        if scenario.malformed_body:
            return Reply(200, MALFORMED_BODY, [(b"content-type", b"application/json")])
        if scenario.wrong_shape:
            return Reply(200, WRONG_SHAPE_BODY, [(b"content-type", b"application/json")])
        reply = wire.success(prompt, generate(prompt, scenario), scenario, request_id)
        if prompt.stream and reply.status == 200:
            return stream_of(self._kind(wire), prompt, reply, scenario)
        reply.chunked = scenario.chunked
        return reply

    def _kind(self, wire: WireFormat) -> str:
        if wire is self.gemini:
            return "gemini"
        return "anthropic" if isinstance(wire, AnthropicWire) else "openai"

    async def _admin(self, path: str, method: str, scope: Scope, receive: Receive) -> Reply:
        if path == "/_fake/requests":
            if method == "GET":
                return json_reply(200, {"requests": list(self.recorded)})
            if method == "DELETE":
                self.recorded.clear()
                return json_reply(200, {"status": "cleared"})
        if path == "/_fake/calls":
            if method == "GET":
                calls = {
                    model: {"received": c.received, "answered": c.answered, "in_flight": c.received - c.answered}
                    for model, c in self.calls.items()
                }
                return json_reply(200, {"calls": calls})
            if method == "DELETE":
                self.calls.clear()
                return json_reply(200, {"status": "cleared"})
        if path == "/_fake/scenario":
            if method == "GET":
                return json_reply(200, {"scenarios": self.scenarios.snapshot()})
            if method == "DELETE":
                query_string: bytes = scope["query_string"]
                model = dict(parse_qsl(query_string.decode())).get("model")
                self.scenarios.reset(model)
                return json_reply(200, {"status": "reset"})
            if method == "POST":
                return self._set_scenario(await _read_body(receive, self.settings.request_body_max_bytes))
        return json_reply(404, {"error": f"the fake provider has no admin route {method} {path}"})

    def _set_scenario(self, raw: bytes | None) -> Reply:
        try:
            # The standard library keeps an integer beyond 64 bits exact (a hostile count to script); orjson
            # would read it as a float.
            fields = json.loads(raw or b"")
        except ValueError:
            return json_reply(400, {"error": "scenario body must be a JSON object"})
        if not isinstance(fields, dict) or not isinstance(fields.get("model"), str) or not fields["model"]:
            return json_reply(400, {"error": 'scenario body must be a JSON object with a "model" string'})
        model = fields.pop("model")
        try:
            scenario = self.scenarios.set(model, knobs_from(fields))
        except ScenarioError as exc:
            return json_reply(400, {"error": str(exc)})
        return json_reply(200, {"model": model, "scenario": dataclasses.asdict(scenario)})


def create_app(settings: FakeProviderSettings | None = None) -> FakeProvider:
    """The ASGI app of one fake provider server; its state lives and dies with the returned object."""
    return FakeProvider(settings or FakeProviderSettings())


async def _read_body(receive: Receive, body_max_bytes: int) -> bytes | None:
    """The request body, or None when it exceeds the limit (the fake then treats it as unparseable)."""
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > body_max_bytes:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _wait_for_disconnect(receive: Receive, wait_max_s: float) -> None:
    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(disconnected(), wait_max_s)
    except TimeoutError:
        return


async def _send_reply(send: Send, reply: Reply) -> None:
    if reply.chunked:
        await send({"type": "http.response.start", "status": reply.status, "headers": reply.headers})
        for start in range(0, len(reply.body), CHUNK_BYTES):
            await send(
                {"type": "http.response.body", "body": reply.body[start : start + CHUNK_BYTES], "more_body": True}
            )
        await send({"type": "http.response.body", "body": b""})
        return
    # An explicit length spares uvicorn chunked encoding, and clients a chunk parser.
    headers = [*reply.headers, (b"content-length", str(len(reply.body)).encode())]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
