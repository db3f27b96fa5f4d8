"""Evaluates guardrails (a workspace's or a key's) on text: deny rules and redaction of e-mails, phone numbers
and cards.

Used by the ingress on prompts (before anything is published or held) and by the workers on answers. JSON texts
(tool call arguments) are redacted inside their strings, so they stay the JSON they were. Matching runs on RE2,
whose time is linear in the text's length, so a hostile prompt cannot make a rule take long: the whole check
is bounded by (prompt size) x (number of rules), and both are bounded.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import re2

from schemas.guardrails import PATTERN_MEMORY_MAX_BYTES, DenyRule, RedactionKind

_EMAIL = r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}"
# 13 to 19 digits, optionally grouped by single spaces or dashes; kept only when the Luhn check passes.
_CARD = r"\b\d(?:[ -]?\d){12,18}\b"
# An international (+...) or grouped number of 7 to 15 digits; bare digit runs (ids, amounts) are left alone.
_PHONE = r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}|\+\d{7,15}"
PHONE_DIGITS = range(7, 16)


def _compile(expression: str) -> Any:
    options = re2.Options()
    options.max_mem = PATTERN_MEMORY_MAX_BYTES
    options.log_errors = False
    return re2.compile(expression, options)


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _digits(text: str) -> str:
    return "".join(char for char in text if char.isdigit())


def json_strings(value: Any) -> list[str]:
    """Every key and string of a JSON value, escapes decoded: what a deny rule reads in arguments or a schema
    (`"Blue\\u0062ird"` in the text is `Bluebird` to whoever reads the JSON)."""
    found: list[str] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            found.append(node)
        elif isinstance(node, dict):
            found.extend(str(key) for key in node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def parsed_json(text: str) -> tuple[bool, Any]:
    """(True, the value) when `text` is JSON, else (False, None). Control characters in strings are read, as
    providers write them; nesting too deep for the parser counts as not JSON."""
    try:
        return True, json.loads(text, strict=False)
    except (ValueError, RecursionError):
        return False, None


@dataclass
class Redacted:
    """A text after redaction, and how many of each kind were replaced."""

    text: str
    counts: Counter[str] = field(default_factory=Counter)


class GuardrailEngine:
    """Compiled deny rules and redactions; built once per revision of the workspace or key that owns them and
    reused for every request."""

    def __init__(self, deny: Sequence[DenyRule], redact: Iterable[RedactionKind]) -> None:
        self._rules = [(rule.name, _compile(rule.expression())) for rule in deny]
        self._redact = tuple(redact)
        self._email = _compile(_EMAIL)
        self._card = _compile(_CARD)
        self._phone = _compile(_PHONE)

    @property
    def empty(self) -> bool:
        return not self._rules and not self._redact

    def blocking_rule(self, texts: Iterable[str]) -> str | None:
        """The name of the first deny rule any of ``texts`` matches, or None."""
        for text in texts:
            for name, pattern in self._rules:
                if pattern.search(text) is not None:
                    return name
        return None

    def redact(self, text: str) -> Redacted:
        result = Redacted(text)
        # Cards before phones: a card number grouped by spaces would otherwise read as a phone number.
        if "card" in self._redact:
            result.text = self._card.sub(lambda m: self._replace(m, "card", result.counts), result.text)
        if "email" in self._redact:
            result.text = self._email.sub(lambda m: self._replace(m, "email", result.counts), result.text)
        if "phone" in self._redact:
            result.text = self._phone.sub(lambda m: self._replace(m, "phone", result.counts), result.text)
        return result

    def redact_json(self, text: str) -> Redacted:
        """A JSON text (tool call arguments) redacted inside it, so it stays JSON of the same shape: every key and
        string value is redacted as text, and a number that is itself what a redaction hides (a card number
        written as digits) becomes the marker as a string. Unchanged, the text is returned as it came; rewritten,
        it is serialized again (`json.dumps`). A text that is not JSON is redacted as plain text."""
        is_json, value = parsed_json(text)
        if not is_json:
            return self.redact(text)
        counts: Counter[str] = Counter()
        try:
            rewritten = _rewrite(value, lambda piece: self._counted(piece, counts))
        except RecursionError:
            return self.redact(text)
        if not counts:
            return Redacted(text)
        return Redacted(json.dumps(rewritten, ensure_ascii=False), counts)

    def _counted(self, text: str, counts: Counter[str]) -> str:
        result = self.redact(text)
        counts.update(result.counts)
        return result.text

    @staticmethod
    def _replace(match: Any, kind: str, counts: Counter[str]) -> str:
        found = str(match.group(0))
        if kind == "card" and not luhn_valid(_digits(found)):
            return found
        if kind == "phone" and len(_digits(found)) not in PHONE_DIGITS:
            return found
        counts[kind] += 1
        return f"[REDACTED:{kind}]"


def _rewrite(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(key)): _rewrite(item, redact) for key, item in value.items()}
    if isinstance(value, list):
        return [_rewrite(item, redact) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        digits = json.dumps(value)
        redacted = redact(digits)
        return value if redacted == digits else redacted
    return value
