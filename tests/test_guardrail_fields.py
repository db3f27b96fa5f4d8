"""Guardrails on the parts of prompts and answers beyond message text, as pure rules: JSON arguments redacted in
place, every part of an answer checked, every text a provider receives read."""

from __future__ import annotations

import json

from ingress.prompt_texts import prompt_texts
from runtime.guardrails import GuardrailEngine
from schemas.chat_options import AnsweredFunction, AnsweredToolCall, ChatOptions, ResultChoice, ToolCall, ToolDefinition
from schemas.events import ChatParameters, PromptMessage, UsageRecorded
from schemas.guardrails import DenyRule, OutputChecks
from workers import output_checks

ENGINE = GuardrailEngine([DenyRule(name="codenames", keywords=("Bluebird",))], ("card", "email"))


def test_json_arguments_are_redacted_inside_their_strings_and_stay_json() -> None:
    text = json.dumps({"to": ["a@b.example"], "card": 4111111111111111, "a@b.example": 1, "n": 7, "ok": True})
    result = ENGINE.redact_json(text)
    assert json.loads(result.text) == {
        "to": ["[REDACTED:email]"],
        "card": "[REDACTED:card]",
        "[REDACTED:email]": 1,
        "n": 7,
        "ok": True,
    }
    assert result.counts == {"email": 2, "card": 1}


def test_arguments_untouched_keep_their_text_and_non_json_is_redacted_as_text() -> None:
    assert ENGINE.redact_json('{"q":   "fine"}').text == '{"q":   "fine"}'
    assert ENGINE.redact_json("{not json a@b.example").text == "{not json [REDACTED:email]"
    deep = "[" * 100_000 + "]" * 100_000
    assert ENGINE.redact_json(deep).text == deep


def usage(*choices: ResultChoice, answer: str | None = None) -> UsageRecorded:
    return UsageRecorded(workspace_id="ws", job_id="job", outcome="completed", answer=answer, choices=choices)


def call(arguments: str, name: str = "lookup") -> AnsweredToolCall:
    return AnsweredToolCall(id="call_1", function=AnsweredFunction(name=name, arguments=arguments))


CHECKS = OutputChecks(deny=(DenyRule(name="codenames", keywords=("Bluebird",)),), redact=("card",))


def test_a_deny_rule_in_any_choice_or_tool_call_withholds_the_whole_answer() -> None:
    for checked in (
        usage(ResultChoice(text="fine"), ResultChoice(index=1, text="the Bluebird plan"), answer="fine"),
        usage(ResultChoice(tool_calls=(call('{"q": "Blue\\u0062ird"}'),))),
        usage(ResultChoice(tool_calls=(call("{}", name="bluebird"),))),
        usage(ResultChoice(text="x", logprobs={"content": [{"token": "x", "top_logprobs": [{"token": "Bluebird"}]}]})),
    ):
        withheld = output_checks.apply(checked, CHECKS)
        assert withheld.outcome == "failed" and withheld.choices == () and withheld.answer is None
        assert withheld.error is not None and "'codenames'" in withheld.error.message


def test_redaction_reaches_every_choice_tool_call_and_drops_the_logprobs_it_would_betray() -> None:
    tokens = {"content": [{"token": word} for word in ["pay", "4111", "1111", "1111", "1111"]]}
    answer = usage(
        ResultChoice(text="pay 4111 1111 1111 1111", logprobs=tokens),
        ResultChoice(index=1, text="nothing here", logprobs={"content": [{"token": "nothing"}]}),
        ResultChoice(index=2, tool_calls=(call('{"card": "4111-1111-1111-1111"}'),)),
        answer="pay 4111 1111 1111 1111",
    )
    checked = output_checks.apply(answer, CHECKS)
    assert checked.answer == "pay [REDACTED:card]"
    first, second, third = checked.choices
    assert first.text == "pay [REDACTED:card]" and first.logprobs is None
    assert second == answer.choices[1]
    assert json.loads(third.tool_calls[0].function.arguments) == {"card": "[REDACTED:card]"}


def test_the_prompt_texts_are_every_text_the_provider_receives() -> None:
    tool = ToolDefinition.model_validate(
        {"type": "function", "function": {"name": "t", "description": "d", "parameters": {"enum": ["Blue\u00efrd"]}}}
    )
    history_call = {"id": "call_1", "function": {"name": "lookup", "arguments": '{"q":"a"}'}}
    params = ChatParameters(
        messages=(
            PromptMessage(role="user", content="hi", images=("data:image/png;base64,Qmx1ZWJpcmQ=",), name="ann"),
            PromptMessage(role="assistant", content="", tool_calls=(ToolCall.model_validate(history_call),)),
        ),
        max_tokens=1,
        options=ChatOptions(tools=(tool,)),
    )
    texts = prompt_texts(params)
    assert texts.sent == (
        "hi",
        "ann",
        "data:image/png;base64,",
        "call_1",
        "lookup",
        '{"q":"a"}',
        "t",
        "d",
        '{"enum":["Blueïrd"]}',
    )
    assert texts.chars() == sum(len(text) for text in texts.sent)
    assert "Blueïrd" in texts.decoded
