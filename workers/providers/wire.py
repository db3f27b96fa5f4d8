"""Small typed readers of provider JSON and the prompt reshaping several wire formats share.

The readers raise `WrongShape` on a field of the wrong type; adapters turn it into a ProviderProtocolError.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from schemas.events import PromptMessage
from workers.providers.base import ProviderCall

# How merged turns and multiple system messages are joined: a blank line keeps them distinguishable.
TURN_SEPARATOR = "\n\n"
# The largest token count one call may report, per counter and in total. The largest contexts are ~2M tokens;
# a count above this is a misbehaving server (a negative or >= 2**63 count would break the book), not usage.
TOKEN_COUNT_MAX = 10_000_000
# The longest system fingerprint kept (OpenAI's read like "fp_44709d6fcb"); a longer one is not a fingerprint.
FINGERPRINT_CHARS_MAX = 64
# What a NUL in an answer becomes: PostgreSQL text cannot store NUL, so the answer could not be settled.
REPLACEMENT_CHARACTER = "\ufffd"


class WrongShapeError(ValueError):
    """A provider JSON field is missing or has the wrong type."""


@dataclass(frozen=True, slots=True)
class UsageCounts:
    """A call's billed totals, and the details of them a provider reports (0 when it does not): prompt tokens read
    from its cache, part of `input_tokens`, and reasoning tokens, part of `output_tokens`."""

    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0


def as_object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WrongShapeError(f"{where} is not an object")
    return value


def as_list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise WrongShapeError(f"{where} is not an array")
    return value


def as_count(value: object, where: str, *, missing_is_zero: bool = False) -> int:
    """A token count: an integer from 0 to TOKEN_COUNT_MAX (providers omit some zero counters)."""
    if value is None and missing_is_zero:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= TOKEN_COUNT_MAX:
        raise WrongShapeError(f"{where} is not a token count: {_shown(value)}")
    return value


def count_total(counts: Sequence[int], where: str) -> int:
    """The sum of a call's counters (e.g. cached + uncached input), held to the same sanity maximum."""
    total = sum(counts)
    if total > TOKEN_COUNT_MAX:
        raise WrongShapeError(f"{where} adds up to {total}, over the sanity maximum {TOKEN_COUNT_MAX}")
    return total


def part_count(value: object, *, whole: int) -> int:
    """A count of part of a total the provider does not bill apart (OpenAI's cached and reasoning tokens, Gemini's
    cached ones): a detail no provider could mean (negative, huge, not an integer) reads as 0, never a reason to
    fail an answer already paid for upstream (a cache-read count so read bills the whole prompt at the input price,
    the dearer reading), and one larger than the `whole` it is part of is shown as that whole. Counts that are billed
    (Anthropic's cache reads, Gemini's thoughts) are read with `as_count`: a hostile one is a protocol error like any
    hostile total."""
    try:
        count = as_count(value, "detail", missing_is_zero=True)
    except WrongShapeError:
        return 0
    return min(count, whole)


def fingerprint(value: object) -> str | None:
    """A system fingerprint fit to show: a non-empty printable string of at most FINGERPRINT_CHARS_MAX characters,
    else None (it only describes the answer, so a strange one is dropped, never a reason to fail the call)."""
    if not isinstance(value, str) or not 0 < len(value) <= FINGERPRINT_CHARS_MAX or not value.isprintable():
        return None
    return value


def answer_text(text: str) -> str:
    """An answer fit to store and deliver: each NUL replaced by U+FFFD; other control characters kept (JSON and
    PostgreSQL carry them)."""
    return text.replace("\x00", REPLACEMENT_CHARACTER) if "\x00" in text else text


def _shown(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:80] + "..."


def as_optional_str(value: object, where: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise WrongShapeError(f"{where} is not a string")
    return value


def str_or_none(value: object) -> str | None:
    """The value if it is a string, else None: the lenient reading of optional fields of error bodies."""
    return value if isinstance(value, str) else None


def sampling_fields(call: ProviderCall, *, temperature: str, top_p: str, stop: str) -> dict[str, Any]:
    """The sampling settings the caller set, under the wire format's names; unset ones are not sent at all."""
    fields: dict[str, Any] = {}
    if call.temperature is not None:
        fields[temperature] = call.temperature
    if call.top_p is not None:
        fields[top_p] = call.top_p
    if call.stop:
        fields[stop] = list(call.stop)
    return fields


def split_system(messages: Sequence[PromptMessage]) -> tuple[str | None, list[tuple[str, str]]]:
    """System text joined apart from the turns; consecutive same-role turns merged so roles alternate."""
    system_parts: list[str] = []
    turns: list[tuple[str, str]] = []
    for message in messages:
        if message.role == "system":
            system_parts.append(message.content)
        elif turns and turns[-1][0] == message.role:
            turns[-1] = (message.role, turns[-1][1] + TURN_SEPARATOR + message.content)
        else:
            turns.append((message.role, message.content))
    system = TURN_SEPARATOR.join(system_parts) if system_parts else None
    return system, turns
