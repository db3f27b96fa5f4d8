"""Output guardrails (the workspace's and the calling key's, carried with the job) applied to an answer before it
is published: deny rules withhold it, redaction rewrites it.

Everything of the answer the caller can read is checked: its text, every choice's text (n > 1), every tool call's
name and arguments, and the tokens of the logprobs. An answer a deny rule matches anywhere ends the job `failed`
with `guardrail_blocked` naming the rule; the answer is dropped here, so it never reaches Kafka, the book or the
caller, and the job is not charged (the provider's cost for it is the operator's). Redaction rewrites the text
and every choice's text, and every tool call's arguments inside their JSON strings (runtime/guardrails.py:
`redact_json`), so they stay valid JSON; a tool call's name is only checked (a name is one of the caller's
tools). Logprobs spell the text out token by token, and a redacted value spans several tokens: a choice in which
anything was redacted (text or tokens) loses its logprobs (`None`). Redacted answers are billed as the provider
counted them.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from runtime.guardrails import GuardrailEngine, json_strings, parsed_json
from schemas.chat_options import AnsweredFunction, ResultChoice
from schemas.errors import ErrorCode
from schemas.events import JobError, UsageRecorded
from schemas.guardrails import OutputChecks

# Jobs of one workspace carry the same checks: compile them once, not per answer.
ENGINES_CACHED_MAX = 256


@lru_cache(maxsize=ENGINES_CACHED_MAX)
def _engine(checks: OutputChecks) -> GuardrailEngine:
    return GuardrailEngine(checks.deny, checks.redact)


def apply(usage: UsageRecorded, checks: OutputChecks | None) -> UsageRecorded:
    """The usage to publish: unchanged, with its answer redacted, or failed because a rule matched."""
    if checks is None or usage.outcome != "completed":
        return usage
    engine = _engine(checks)
    rule = engine.blocking_rule(answer_texts(usage))
    if rule is not None:
        error = JobError(
            code=ErrorCode.GUARDRAIL_BLOCKED,
            message=f"the answer was withheld by the guardrail '{rule}'; nothing was charged",
        )
        withheld = {"outcome": "failed", "answer": None, "finish_reason": None, "choices": (), "error": error}
        return usage.model_copy(update=withheld)
    answer = engine.redact(usage.answer).text if usage.answer else usage.answer
    choices = tuple(_redacted_choice(engine, choice) for choice in usage.choices)
    if answer == usage.answer and choices == usage.choices:
        return usage
    return usage.model_copy(update={"answer": answer, "choices": choices})


def answer_texts(usage: UsageRecorded) -> Iterator[str]:
    """Every text of the answer a deny rule reads: the answer, and each choice's text, tool calls and tokens."""
    if usage.answer:
        yield usage.answer
    for choice in usage.choices:
        if choice.text:
            yield choice.text
        for call in choice.tool_calls:
            yield call.function.name
            yield call.function.arguments
            # The arguments as a reader of the JSON sees them: "\u0062" is "b" there.
            is_json, value = parsed_json(call.function.arguments)
            if is_json:
                yield from json_strings(value)
        if choice.logprobs:
            yield from _logprob_texts(choice.logprobs)


def _logprob_texts(logprobs: dict[str, Any]) -> Iterator[str]:
    """The tokens of OpenAI's logprobs object, chosen ones joined (the text again) and each alternative alone."""
    for part in ("content", "refusal"):
        entries = logprobs.get(part)
        if not isinstance(entries, list):
            continue
        chosen = []
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            if isinstance(entry.get("token"), str):
                chosen.append(entry["token"])
            for alternative in entry.get("top_logprobs") or ():
                if isinstance(alternative, dict) and isinstance(alternative.get("token"), str):
                    yield alternative["token"]
        yield "".join(chosen)


def _redacted_choice(engine: GuardrailEngine, choice: ResultChoice) -> ResultChoice:
    text = engine.redact(choice.text) if choice.text else None
    calls = []
    for call in choice.tool_calls:
        arguments = engine.redact_json(call.function.arguments).text
        if arguments != call.function.arguments:
            call = call.model_copy(update={"function": AnsweredFunction(name=call.function.name, arguments=arguments)})
        calls.append(call)
    update: dict[str, Any] = {}
    if text is not None and text.counts:
        update["text"] = text.text
    if tuple(calls) != choice.tool_calls:
        update["tool_calls"] = tuple(calls)
    if choice.logprobs and (update.get("text") is not None or _tokens_redact(engine, choice.logprobs)):
        update["logprobs"] = None
    return choice.model_copy(update=update) if update else choice


def _tokens_redact(engine: GuardrailEngine, logprobs: dict[str, Any]) -> bool:
    return any(engine.redact(text).counts for text in _logprob_texts(logprobs))
