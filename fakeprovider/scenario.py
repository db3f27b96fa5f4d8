"""Scripted behaviours of the fake provider: what a call to a model should do instead of a plain answer.

A scenario is set per model name through ``POST /_fake/scenario`` (``"model": "*"`` matches every model)
or per request by a directive in the last user message, e.g. ``[fake fail_status=429 fail_times=2]``.
Directive fields override the model's scenario field by field. ``fail_times`` counts calls per model
scenario (reset when it is set again) and, for directives, per (model, directive text), so a retried
request fails the first N times and then succeeds.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

WILDCARD_MODEL = "*"
DIRECTIVE_PATTERN = re.compile(r"\[fake\s+([^\]]*)\]")

_Number = TypeVar("_Number", int, float)


class ScenarioError(ValueError):
    """A scenario or directive names an unknown knob or a value of the wrong type."""


@dataclass(frozen=True, slots=True)
class Scenario:
    latency_ms: int = 0
    output_tokens: int | None = None
    reasoning_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    fail_status: int | None = None
    # None means every call fails while fail_status is set.
    fail_times: int | None = None
    error_code: str | None = None
    retry_after_s: float | None = None
    malformed_body: bool = False
    wrong_shape: bool = False
    timeout: bool = False
    omit_usage: bool = False
    block_reason: str | None = None
    # Hostile answers, to test what the gateway does with a misbehaving provider:
    # the literal answer text (NUL and control characters allowed) instead of the echo;
    answer_text: str | None = None
    # an answer padded to this many UTF-8 bytes (a huge answer);
    answer_bytes: int | None = None
    # the literal error message of a scripted failure;
    error_message: str | None = None
    # any JSON value reported as the input / output token count (negative, 2**63, 1.5, true, "7").
    usage_input_tokens: Any = None
    usage_output_tokens: Any = None
    # any JSON value reported as the cached prompt / reasoning token count, where the wire format has one (OpenAI's
    # details, Anthropic's cache_read_input_tokens, Gemini's cachedContentTokenCount and thoughtsTokenCount);
    usage_cached_tokens: Any = None
    usage_reasoning_tokens: Any = None
    # and any JSON value as OpenAI's system_fingerprint (a huge or unprintable text, a number).
    system_fingerprint: Any = None
    # Send the answer in chunks with no content-length (chunked transfer encoding), as streaming proxies do.
    chunked: bool = False
    # Streams (fakeprovider/streaming.py): pause before each piece, piece size (default a word), and a stream
    # that after N pieces sends the format's error event / hangs until the client leaves / just ends.
    stream_chunk_ms: int = 0
    stream_chunk_chars: int | None = None
    stream_fail_after: int | None = None
    stream_hang_after: int | None = None
    stream_cut_after: int | None = None
    # Tool calls (fakeprovider/features.py): call every offered tool in order (parallel calls), a text said
    # before the calls, the literal arguments text (hostile text allowed), and the index the OpenAI stream's
    # tool call pieces and Anthropic's tool_use blocks carry (any JSON value: a huge or non-integer index).
    tool_calls_each: bool = False
    tool_text: str | None = None
    tool_arguments: str | None = None
    tool_call_index: Any = None
    # The finish reason the answer reports, verbatim in the format's own field (`[fake finish_reason=SPII]`):
    # Gemini's BLOCKLIST / PROHIBITED_CONTENT / MALFORMED_FUNCTION_CALL..., any text a provider might invent.
    finish_reason: str | None = None


PLAIN = Scenario()


def _to_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "1", "yes"}:
        return True
    if isinstance(value, str) and value.lower() in {"false", "0", "no"}:
        return False
    raise ScenarioError(f"expected a boolean, got {value!r}")


def _to_int(value: object) -> int:
    return _non_negative(value, int, (int, str), "an integer", "a non-negative integer")


def _to_float(value: object) -> float:
    return _non_negative(value, float, (int, float, str), "a number", "a non-negative number")


def _non_negative(
    value: object, parse: Callable[[Any], _Number], accepted: tuple[type, ...], what: str, non_negative: str
) -> _Number:
    """`value` (of an `accepted` type, never a bool) parsed as a number that is not below zero."""
    if isinstance(value, bool) or not isinstance(value, accepted):
        raise ScenarioError(f"expected {what}, got {value!r}")
    try:
        parsed = parse(value)
    except ValueError as exc:
        raise ScenarioError(f"expected {what}, got {value!r}") from exc
    if parsed < 0:
        raise ScenarioError(f"expected {non_negative}, got {value!r}")
    return parsed


def _to_str(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ScenarioError(f"expected a non-empty string, got {value!r}")
    return value


def _any_text(value: object) -> str:
    """Any string, empty or full of control characters: hostile answers are the point of these knobs."""
    if not isinstance(value, str):
        raise ScenarioError(f"expected a string, got {value!r}")
    return value


def _json_value(value: object) -> object:
    """Kept as sent: a hostile token count may be anything JSON can carry."""
    return value


def _optional(convert: Callable[[object], Any]) -> Callable[[object], Any]:
    return lambda value: None if value is None else convert(value)


KNOBS: dict[str, Callable[[object], Any]] = {
    "latency_ms": _to_int,
    "output_tokens": _optional(_to_int),
    "reasoning_tokens": _to_int,
    "cache_read_tokens": _to_int,
    "cache_creation_tokens": _to_int,
    "fail_status": _optional(_to_int),
    "fail_times": _optional(_to_int),
    "error_code": _optional(_to_str),
    "retry_after_s": _optional(_to_float),
    "malformed_body": _to_bool,
    "wrong_shape": _to_bool,
    "timeout": _to_bool,
    "omit_usage": _to_bool,
    "block_reason": _optional(_to_str),
    "answer_text": _optional(_any_text),
    "answer_bytes": _optional(_to_int),
    "error_message": _optional(_any_text),
    "usage_input_tokens": _json_value,
    "usage_output_tokens": _json_value,
    "usage_cached_tokens": _json_value,
    "usage_reasoning_tokens": _json_value,
    "system_fingerprint": _json_value,
    "chunked": _to_bool,
    "stream_chunk_ms": _to_int,
    "stream_chunk_chars": _optional(_to_int),
    "stream_fail_after": _optional(_to_int),
    "stream_hang_after": _optional(_to_int),
    "stream_cut_after": _optional(_to_int),
    "tool_calls_each": _to_bool,
    "tool_text": _optional(_any_text),
    "tool_arguments": _optional(_any_text),
    "tool_call_index": _json_value,
    "finish_reason": _optional(_to_str),
}


def knobs_from(fields: Mapping[str, object]) -> dict[str, Any]:
    """Validated knob values from JSON or directive fields; unknown names are refused, not ignored."""
    unknown = sorted(set(fields) - set(KNOBS))
    if unknown:
        raise ScenarioError(f"unknown scenario knobs {unknown}; known: {sorted(KNOBS)}")
    knobs: dict[str, Any] = {}
    for name, value in fields.items():
        try:
            knobs[name] = KNOBS[name](value)
        except ScenarioError as exc:
            raise ScenarioError(f"{name}: {exc}") from None
    status = knobs.get("fail_status")
    if status is not None and not 400 <= status <= 599:
        raise ScenarioError(f"fail_status must be an HTTP error status 400..599, got {status}")
    return knobs


def directive_in(text: str) -> str | None:
    """The body of the first `[fake ...]` directive in a message, or None (cheap when there is none)."""
    if "[fake" not in text:
        return None
    found = DIRECTIVE_PATTERN.search(text)
    return None if found is None else found.group(1).strip()


def strip_directives(text: str) -> str:
    if "[fake" not in text:
        return text
    return DIRECTIVE_PATTERN.sub(" ", text)


def parse_directive(body: str) -> dict[str, Any]:
    fields: dict[str, object] = {}
    for item in body.split():
        name, sep, value = item.partition("=")
        if not sep:
            raise ScenarioError(f"directive item {item!r} is not name=value")
        fields[name] = None if value in {"none", "null"} else value
    return knobs_from(fields)


@dataclass(frozen=True, slots=True)
class Plan:
    """What one call does: the effective scenario and whether this particular call fails."""

    scenario: Scenario
    fails: bool


class ScenarioBook:
    """Scenarios by model name plus the call counters behind `fail_times`."""

    def __init__(self, counters_max: int) -> None:
        self._by_model: dict[str, Scenario] = {}
        self._calls: dict[tuple[str, ...], int] = {}
        self._counters_max = counters_max

    def set(self, model: str, knobs: Mapping[str, Any]) -> Scenario:
        scenario = dataclasses.replace(PLAIN, **knobs)
        self._by_model[model] = scenario
        self._calls.pop(("scenario", model), None)
        return scenario

    def reset(self, model: str | None = None) -> None:
        if model is None:
            self._by_model.clear()
            self._calls.clear()
            return
        self._by_model.pop(model, None)
        self._calls.pop(("scenario", model), None)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {model: dataclasses.asdict(s) for model, s in self._by_model.items()}

    def plan(self, model: str, directive: str | None) -> Plan:
        """The plan for one call; raises ScenarioError for a malformed directive."""
        key_model = model if model in self._by_model else WILDCARD_MODEL
        scenario = self._by_model.get(key_model)
        if directive is None:
            if scenario is None:
                return Plan(PLAIN, fails=False)
            return Plan(scenario, fails=self._counts_as_failure(scenario, ("scenario", key_model)))
        scenario = dataclasses.replace(scenario or PLAIN, **parse_directive(directive))
        return Plan(scenario, fails=self._counts_as_failure(scenario, ("directive", model, directive)))

    def _counts_as_failure(self, scenario: Scenario, key: tuple[str, ...]) -> bool:
        if scenario.fail_status is None:
            return False
        if scenario.fail_times is None:
            return True
        if len(self._calls) >= self._counters_max and key not in self._calls:
            # A bound on memory: forgetting counters only makes some scripted failures repeat.
            self._calls.clear()
        seen = self._calls.get(key, 0)
        self._calls[key] = seen + 1
        return seen < scenario.fail_times
