"""Providers' finish reasons in OpenAI's words, where the OpenAI surface renders them (unstreamed and streamed)."""

from __future__ import annotations

import logging

import orjson
import pytest

from ingress import openai_choices
from ingress.openai_shapes import chat_completion
from ingress.stream_shapes import OpenAIChunks
from schemas.chat_options import AnsweredFunction, AnsweredToolCall, ResultChoice
from schemas.results import JobResult

OPENAI_REASONS = {"stop", "length", "tool_calls", "content_filter", "function_call"}
CASES = [
    ("STOP", "stop"),
    ("MAX_TOKENS", "length"),
    ("SAFETY", "content_filter"),
    ("RECITATION", "content_filter"),
    ("BLOCKLIST", "content_filter"),
    ("PROHIBITED_CONTENT", "content_filter"),
    ("SPII", "content_filter"),
    ("IMAGE_SAFETY", "content_filter"),
    ("MALFORMED_FUNCTION_CALL", "stop"),
    ("OTHER", "stop"),
    ("end_turn", "stop"),
    ("max_tokens", "length"),
    ("refusal", "content_filter"),
    ("pause_turn", "stop"),
    ("length", "length"),
    (None, "stop"),
]


def finished(reason: str | None, **fields: object) -> JobResult:
    return JobResult(
        workspace_id="w",
        job_id="j",
        status="completed",
        model_id="m",
        answer="",
        finish_reason=reason,
        balance_left=0,
        **fields,  # type: ignore[arg-type]
    )


def streamed_finish(result: JobResult) -> str:
    chunks = OpenAIChunks(include_usage=False)
    chunks.start("j", "m")
    [event, done] = chunks.finish(result, None).split(b"\n\n")[:2]
    assert done == b"data: [DONE]"
    return str(orjson.loads(event.removeprefix(b"data: "))["choices"][0]["finish_reason"])


@pytest.mark.parametrize(("reason", "expected"), CASES)
def test_each_reason_renders_the_same_unstreamed_and_streamed(reason: str | None, expected: str) -> None:
    result = finished(reason)
    assert chat_completion(result, created=0)["choices"][0]["finish_reason"] == expected
    assert streamed_finish(result) == expected


def test_every_mapped_reason_is_one_openai_knows() -> None:
    assert set(openai_choices.FINISH_REASONS.values()) <= OPENAI_REASONS


def test_a_choice_with_tool_calls_is_tool_calls_whatever_the_provider_said() -> None:
    call = AnsweredToolCall(id="c", function=AnsweredFunction(name="f", arguments="{}"))
    choice = ResultChoice(index=0, text=None, finish_reason="MALFORMED_FUNCTION_CALL", tool_calls=(call,))
    result = finished("MALFORMED_FUNCTION_CALL", choices=(choice,))
    assert chat_completion(result, created=0)["choices"][0]["finish_reason"] == "tool_calls"
    assert streamed_finish(result) == "tool_calls"


def test_an_unknown_reason_is_stop_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ingress.openai_choices")
    openai_choices._UNKNOWN_LOGGED.discard("NEW_REASON_2031")

    rendered = [openai_choices.openai_finish_reason("NEW_REASON_2031") for _ in range(3)]
    rendered.append(chat_completion(finished("NEW_REASON_2031"), created=0)["choices"][0]["finish_reason"])

    assert rendered == ["stop"] * 4
    [record] = [r for r in caplog.records if "NEW_REASON_2031" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "'stop'" in record.getMessage()


def test_the_set_of_logged_reasons_is_bounded(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openai_choices, "_UNKNOWN_LOGGED", set())
    caplog.set_level(logging.WARNING, logger="ingress.openai_choices")

    for number in range(openai_choices.UNKNOWN_LOGGED_MAX + 50):
        assert openai_choices.openai_finish_reason(f"R{number}") == "stop"

    assert len(openai_choices._UNKNOWN_LOGGED) == openai_choices.UNKNOWN_LOGGED_MAX
    assert len(caplog.records) == openai_choices.UNKNOWN_LOGGED_MAX
