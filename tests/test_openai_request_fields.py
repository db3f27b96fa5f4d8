"""The OpenAI surface's reading of today's request fields and of an answer's message sent back, and where each
provider's adapter puts the new options (pure: no stack)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ingress.openai_shapes import to_chat_request
from ingress.stream_shapes import stream_options_of
from ingress.submission import prompt_message
from schemas.api import ChatCompletionRequest
from schemas.capabilities import supported
from schemas.chat_options import ChatOptions
from schemas.errors import InvalidRequest
from schemas.events import PromptMessage, encode
from workers.providers import translate_anthropic, translate_gemini, translate_openai

HI = {"role": "user", "content": "hi"}


def request(**fields: Any) -> dict[str, Any]:
    return {"model": "openai/gpt-5", "messages": [HI]} | fields


def test_an_answers_message_with_every_null_field_is_its_text() -> None:
    answered = {
        "role": "assistant",
        "content": "Hello",
        "refusal": None,
        "audio": None,
        "function_call": None,
        "annotations": None,
        "tool_calls": None,
        "name": "bot",
    }
    chat = to_chat_request(request(messages=[HI, answered, HI]))
    assert chat.messages[1].model_dump(exclude_none=True) == {"role": "assistant", "content": "Hello", "name": "bot"}


def test_a_refusal_is_the_assistants_text_when_it_has_no_content() -> None:
    refused = {"role": "assistant", "content": None, "refusal": "I can't."}
    parts = {"role": "assistant", "content": [{"type": "text", "text": "A "}, {"type": "refusal", "refusal": "no"}]}
    both = {"role": "assistant", "content": "Said this", "refusal": "and refused"}
    chat = to_chat_request(request(messages=[HI, refused, HI, parts, HI, both, HI]))
    assert [chat.messages[i].text() for i in (1, 3, 5)] == ["I can't.", "A no", "Said this"]


@pytest.mark.parametrize(
    ("message", "named"),
    [
        ({"role": "assistant", "content": "x", "audio": {"id": "audio_1"}}, "'messages.1.audio'"),
        ({"role": "assistant", "content": "x", "function_call": {"name": "f", "arguments": "{}"}}, "function_call"),
        ({"role": "assistant", "content": None, "refusal": None}, "content is required"),
        ({"role": "user", "content": "x", "refusal": None}, "'refusal' belongs to assistant messages only"),
        ({"role": "tool", "tool_call_id": "c", "content": [{"type": "refusal", "refusal": "x"}]}, "refusal content"),
    ],
)
def test_what_an_assistant_message_cannot_carry_is_refused_by_name(message: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidRequest, match=named):
        to_chat_request(request(messages=[HI, message]))


@pytest.mark.parametrize(
    "fields",
    [
        {"store": False},
        {"service_tier": "auto"},
        {"service_tier": "default"},
        {"modalities": ["text"]},
        {"metadata": {"k" * 64: "v" * 512} | {f"k{i}": "v" for i in range(15)}},
        {"safety_identifier": "u1", "prompt_cache_key": "p1", "reasoning_effort": "minimal", "verbosity": "high"},
    ],
)
def test_todays_fields_are_accepted(fields: dict[str, Any]) -> None:
    to_chat_request(request(**fields))


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"store": True}, "no stored completions"),
        ({"modalities": ["audio"]}, 'only \\["text"\\]'),
        ({"service_tier": "priority"}, "'auto' or 'default'"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "at most 16"),
        ({"metadata": {"k" * 65: "v"}}, "keys are at most 64"),
        ({"metadata": {"k": "v" * 513}}, "values are at most 512"),
        ({"max_tokens": "10"}, "valid integer"),
    ],
)
def test_what_the_gateway_cannot_do_is_a_400_saying_why(fields: dict[str, Any], said: str) -> None:
    with pytest.raises(InvalidRequest, match=said):
        to_chat_request(request(**fields))


def test_include_obfuscation_is_accepted_and_checked() -> None:
    for value in (True, False):
        raw = {"stream": True, "stream_options": {"include_usage": True, "include_obfuscation": value}}
        assert stream_options_of(raw) == (True, True)
    with pytest.raises(InvalidRequest, match=r"'stream_options\.include_obfuscation'"):
        stream_options_of({"stream": True, "stream_options": {"include_obfuscation": 0}})


def test_openai_itself_gets_the_hints_a_compatible_server_does_not() -> None:
    options = ChatOptions(safety_identifier="u1", prompt_cache_key="p1", reasoning_effort="low", verbosity="low")
    assert translate_openai.option_fields(options, openai_hints=True) == {
        "safety_identifier": "u1",
        "prompt_cache_key": "p1",
        "reasoning_effort": "low",
        "verbosity": "low",
    }
    assert translate_openai.option_fields(options, openai_hints=False) == {
        "reasoning_effort": "low",
        "verbosity": "low",
    }


def test_anthropic_labels_the_user_with_user_else_safety_identifier() -> None:
    assert translate_anthropic.option_fields(ChatOptions(safety_identifier="s"))["metadata"] == {"user_id": "s"}
    both = ChatOptions(user="u", safety_identifier="s")
    assert translate_anthropic.option_fields(both)["metadata"] == {"user_id": "u"}


def test_reasoning_parameters_belong_to_no_kind_by_default() -> None:
    for kind in ("openai", "openai_compatible", "anthropic", "gemini"):
        assert not {"reasoning_effort", "verbosity"} & supported(kind, None)


def test_a_participant_name_reaches_openai_wires_and_no_other() -> None:
    # It was accepted and silently dropped: now the job carries it, and the Chat Completions wire sends it.
    chat = to_chat_request(request(messages=[{"role": "user", "content": "hi", "name": "ann_O'Neil-2.é"}]))
    prompt = prompt_message(chat.messages[0])
    assert prompt.name == "ann_O'Neil-2.é"
    assert translate_openai.message(prompt) == {"role": "user", "content": "hi", "name": "ann_O'Neil-2.é"}
    # A message without one encodes as before (role and content only), so old readers see the old shape.
    assert encode(PromptMessage(role="user", content="hi")) == b'{"role":"user","content":"hi"}'
    assert PromptMessage.model_validate_json(encode(prompt)) == prompt
    # Gemini has no participant name: left out, not refused (README, "A message's name").
    assert "ann" not in str(translate_gemini.contents((prompt,)))


NAMES_REFUSED = [
    "",
    "a b",
    "tab\there",
    "line\u2028sep",
    "nul\x00",
    "bell\x07",
    "c1\x85",
    "del\x7f",
    "<|endoftext|>",
    "a/b",
    "a\\b",
    "n" * 65,
    "n" * 10_000,
]


@pytest.mark.parametrize("name", NAMES_REFUSED, ids=repr)
def test_an_unfit_participant_name_is_a_400_naming_it_on_both_surfaces(name: str) -> None:
    messages = [HI, {"role": "assistant", "content": "ok", "name": name}]
    with pytest.raises(InvalidRequest, match=r"^'messages\.1\.name': ") as refused:
        to_chat_request(request(messages=messages))
    assert len(refused.value.message) < 300
    with pytest.raises(ValidationError, match=r"messages\.1\.name"):
        ChatCompletionRequest.model_validate(request(messages=messages))


def test_a_participant_name_is_a_string() -> None:
    for name in (5, True, ["a"], {"a": 1}):
        with pytest.raises(InvalidRequest, match=r"^'messages\.0\.name': "):
            to_chat_request(request(messages=[{**HI, "name": name}]))
    assert prompt_message(to_chat_request(request(messages=[{**HI, "name": "n" * 64}])).messages[0]).name == "n" * 64
