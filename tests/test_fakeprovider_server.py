"""The fake provider itself: it rejects what the real providers reject, and its knobs do what they say."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakeprovider import tokens
from fakeprovider.settings import FakeProviderSettings
from fakeprovider.testing import RunningFakeProvider
from tests.provider_harness import fake_fixture  # noqa: F401

OPENAI_AUTH = {"authorization": "Bearer sk-test"}
ANTHROPIC_AUTH = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}


@pytest.fixture
def http(fake: RunningFakeProvider) -> Iterator[httpx.Client]:
    fake.reset()
    with httpx.Client(base_url=fake.url) as client:
        yield client


def openai_chat(http: httpx.Client, model: str = "gpt-4o", text: str = "hello", **fields: object) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **fields}
    return http.post("/openai/v1/chat/completions", json=body, headers=OPENAI_AUTH)


def test_healthz(http: httpx.Client) -> None:
    response = http.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("model", ["gpt-5", "gpt-5-mini", "o1", "o3-mini", "o4-mini"])
def test_openai_reasoning_models_refuse_max_tokens(http: httpx.Client, model: str) -> None:
    refused = openai_chat(http, model=model, max_tokens=10)
    accepted = openai_chat(http, model=model, max_completion_tokens=10)

    assert refused.status_code == 400
    assert refused.json() == {
        "error": {
            "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            "type": "invalid_request_error",
            "param": "max_tokens",
            "code": "unsupported_parameter",
        }
    }
    assert accepted.status_code == 200


def test_openai_older_models_accept_max_tokens(http: httpx.Client) -> None:
    assert openai_chat(http, model="gpt-4o", max_tokens=10).status_code == 200


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer"}, {"authorization": "Basic abc"}])
def test_openai_requires_a_bearer_key(http: httpx.Client, headers: dict[str, str]) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    response = http.post("/openai/v1/chat/completions", json=body, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_openai_full_shape_and_headers(http: httpx.Client) -> None:
    response = openai_chat(http, text="one two three", max_tokens=100)

    body = response.json()
    assert response.headers["x-request-id"].startswith("req_fake_")
    assert response.headers["x-ratelimit-limit-requests"] == "10000"
    assert response.headers["x-ratelimit-remaining-tokens"] == str(30_000_000 - 6 - 16)
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Echo: one two three" + " echo" * 12,
        "refusal": None,
        "annotations": [],
    }
    assert body["usage"] == {
        "prompt_tokens": 6,
        "completion_tokens": 16,
        "total_tokens": 22,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def test_openai_429_body_and_headers(fake: RunningFakeProvider, http: httpx.Client) -> None:
    fake.set_scenario("gpt-4o", fail_status=429, retry_after_s=2.5)
    response = openai_chat(http)

    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


def anthropic_messages(http: httpx.Client, body: dict[str, object], **headers: str) -> httpx.Response:
    return http.post("/anthropic/v1/messages", json=body, headers={**ANTHROPIC_AUTH, **headers})


def test_anthropic_rejects_system_role_in_messages(http: httpx.Client) -> None:
    body = {
        "model": "claude-x",
        "max_tokens": 10,
        "messages": [{"role": "system", "content": "be nice"}, {"role": "user", "content": "hi"}],
    }
    response = anthropic_messages(http, body)

    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert 'Unexpected role "system"' in error["error"]["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "max_tokens: Field required"),
        (
            {"max_tokens": 5, "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
            "roles must alternate",
        ),
        ({"max_tokens": 5, "messages": [{"role": "assistant", "content": "a"}]}, 'first message must use the "user"'),
        ({"max_tokens": 5, "temperature": 1.5, "messages": [{"role": "user", "content": "a"}]}, "temperature"),
    ],
)
def test_anthropic_rejects_invalid_requests(http: httpx.Client, body: dict[str, object], message: str) -> None:
    response = anthropic_messages(http, {"model": "claude-x", **body})

    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def test_anthropic_requires_key_and_version(http: httpx.Client) -> None:
    body = {"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}

    no_key = http.post("/anthropic/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"})
    no_version = http.post("/anthropic/v1/messages", json=body, headers={"x-api-key": "k"})

    assert no_key.status_code == 401
    assert no_key.json()["error"]["type"] == "authentication_error"
    assert no_version.status_code == 400
    assert "anthropic-version" in no_version.json()["error"]["message"]


def test_anthropic_529_is_overloaded_error(fake: RunningFakeProvider, http: httpx.Client) -> None:
    fake.set_scenario("claude-x", fail_status=529)
    body = {"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    response = anthropic_messages(http, body)

    assert response.status_code == 529
    assert response.json()["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert response.headers["request-id"] == response.json()["request_id"]


GEMINI_PATH = "/gemini/v1beta/models/gemini-2.5-flash:generateContent"
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "hi there"}]}]}


@pytest.mark.parametrize(("headers", "params"), [({}, {}), ({"x-goog-api-key": "invalid-1"}, {})])
def test_gemini_bad_key_is_api_key_invalid(http: httpx.Client, headers: dict[str, str], params: dict[str, str]) -> None:
    response = http.post(GEMINI_PATH, json=GEMINI_BODY, headers=headers, params=params)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["details"][0]["reason"] == "API_KEY_INVALID"


def test_gemini_accepts_key_in_query_or_header(http: httpx.Client) -> None:
    by_query = http.post(GEMINI_PATH, json=GEMINI_BODY, params={"key": "AIza"})
    by_header = http.post(GEMINI_PATH, json=GEMINI_BODY, headers={"x-goog-api-key": "AIza"})

    assert by_query.status_code == by_header.status_code == 200
    assert by_query.json()["usageMetadata"]["promptTokenCount"] == 5
    assert by_query.json()["candidates"][0]["content"]["parts"][0]["text"].startswith("Echo: hi there")


def test_gemini_rejects_assistant_role(http: httpx.Client) -> None:
    body = {"contents": [{"role": "assistant", "parts": [{"text": "hi"}]}]}
    response = http.post(GEMINI_PATH, json=body, headers={"x-goog-api-key": "AIza"})

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Please use a valid role: user, model."


def test_scenario_fails_first_n_calls_then_succeeds(fake: RunningFakeProvider, http: httpx.Client) -> None:
    fake.set_scenario("gpt-4o", fail_status=503, fail_times=2)

    statuses = [openai_chat(http).status_code for _ in range(4)]

    assert statuses == [503, 503, 200, 200]


def test_wildcard_scenario_and_reset(fake: RunningFakeProvider, http: httpx.Client) -> None:
    fake.set_scenario("*", fail_status=500)
    assert openai_chat(http, model="any-model").status_code == 500

    http.delete("/_fake/scenario").raise_for_status()
    assert openai_chat(http, model="any-model").status_code == 200


def test_directive_in_last_user_message(http: httpx.Client) -> None:
    text = "tell me [fake fail_status=429 fail_times=1 retry_after_s=4] now"

    first = openai_chat(http, text=text)
    second = openai_chat(http, text=text)

    assert first.status_code == 429
    assert first.headers["retry-after"] == "4"
    assert second.status_code == 200
    # The directive is not echoed back.
    assert second.json()["choices"][0]["message"]["content"].startswith("Echo: tell me now echo")


def test_latency_knob_delays_the_answer(fake: RunningFakeProvider, http: httpx.Client) -> None:
    fake.set_scenario("gpt-4o", latency_ms=150)
    started = time.monotonic()

    assert openai_chat(http).status_code == 200
    assert time.monotonic() - started >= 0.15


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "fail_status": 200},
        {"model": "m", "no_such_knob": 1},
        {"fail_status": 500},
        {"model": "m", "timeout": "x"},
        {"model": "m", "answer_bytes": -1},
        {"model": "m", "answer_text": 7},
        {"model": "m", "chunked": "maybe"},
    ],
)
def test_invalid_scenarios_are_refused(http: httpx.Client, body: dict[str, object]) -> None:
    response = http.post("/_fake/scenario", json=body)

    assert response.status_code == 400


def test_hostile_knobs_shape_the_answer_and_the_error(fake: RunningFakeProvider, http: httpx.Client) -> None:
    fake.set_scenario("gpt-4o", answer_text="a\x00b", usage_input_tokens=-3, usage_output_tokens=2**63)
    body = openai_chat(http).json()
    fake.set_scenario("gpt-4o", answer_bytes=1000)
    padded = openai_chat(http).json()
    fake.set_scenario("gpt-4o", fail_status=502, error_message="down\x00")
    failed = openai_chat(http).json()

    assert body["choices"][0]["message"]["content"] == "a\x00b"
    assert (body["usage"]["prompt_tokens"], body["usage"]["completion_tokens"]) == (-3, 2**63)
    assert len(padded["choices"][0]["message"]["content"].encode()) == 1000
    assert failed["error"]["message"] == "down\x00"


def test_the_finish_reason_knob_is_each_formats_own_field(http: httpx.Client) -> None:
    text = "hi [fake finish_reason=PROHIBITED_CONTENT]"
    openai = openai_chat(http, text=text).json()
    anthropic = http.post(
        "/anthropic/v1/messages",
        json={"model": "claude-sonnet-4", "max_tokens": 20, "messages": [{"role": "user", "content": text}]},
        headers=ANTHROPIC_AUTH,
    ).json()
    gemini_body = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    gemini = http.post(GEMINI_PATH, json=gemini_body, headers={"x-goog-api-key": "AIza"}).json()
    streamed = http.post(
        GEMINI_PATH.replace(":generateContent", ":streamGenerateContent"),
        params={"alt": "sse"},
        json=gemini_body,
        headers={"x-goog-api-key": "AIza"},
    ).text

    assert openai["choices"][0]["finish_reason"] == "PROHIBITED_CONTENT"
    assert anthropic["stop_reason"] == "PROHIBITED_CONTENT"
    assert gemini["candidates"][0]["finishReason"] == "PROHIBITED_CONTENT"
    assert streamed.count('"finishReason":"PROHIBITED_CONTENT"') == 1


def test_calls_are_counted_per_model_with_those_in_flight(fake: RunningFakeProvider, http: httpx.Client) -> None:
    fake.set_scenario("gpt-4o", latency_ms=1500)
    with httpx.Client(base_url=fake.url) as other:
        slow = threading.Thread(target=openai_chat, args=(other,))
        slow.start()
        deadline = time.monotonic() + 5
        while fake.calls("gpt-4o")["in_flight"] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        during = fake.calls("gpt-4o")
        openai_chat(http, model="gpt-4.1")
        slow.join()

    assert during == {"received": 1, "answered": 0, "in_flight": 1}
    assert fake.calls("gpt-4o") == {"received": 1, "answered": 1, "in_flight": 0}
    assert fake.calls("gpt-4.1") == {"received": 1, "answered": 1, "in_flight": 0}
    fake.reset()
    assert fake.calls("gpt-4o") == {"received": 0, "answered": 0, "in_flight": 0}


def test_requests_are_recorded_in_a_bounded_ring() -> None:
    with (
        RunningFakeProvider(FakeProviderSettings(recorded_requests_max=2)) as small,
        httpx.Client(base_url=small.url) as http,
    ):
        for text in ["one", "two", "three"]:
            openai_chat(http, text=text)
        recorded = small.recorded_requests()

    assert [r["json"]["messages"][0]["content"] for r in recorded] == ["two", "three"]
    assert recorded[0]["method"] == "POST"
    assert recorded[0]["headers"]["authorization"] == "Bearer sk-test"


@given(st.lists(st.text(), min_size=1, max_size=8))
def test_prompt_tokens_never_exceed_bytes_plus_four_per_message(texts: list[str]) -> None:
    assert tokens.count_prompt_tokens(texts) <= sum(len(t.encode()) + 4 for t in texts)


@given(st.text(), st.integers(min_value=0, max_value=300))
def test_answer_has_exactly_the_output_token_count(last_user_text: str, output_tokens: int) -> None:
    assert len(tokens.answer_text(last_user_text, output_tokens).split()) == output_tokens


def test_command_line_server_writes_ready_file(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ready = tmp_path / "ready"
    env = {**os.environ, "LUNTREX_READY_FILE": str(ready)}
    process = subprocess.Popen([sys.executable, "-m", "fakeprovider", "--port", str(port)], env=env)
    try:
        deadline = time.monotonic() + 15
        while not ready.exists():
            assert process.poll() is None, "the fake provider exited"
            assert time.monotonic() < deadline, "no ready file within 15 s"
            time.sleep(0.05)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
    finally:
        process.terminate()
        process.wait(timeout=10)
