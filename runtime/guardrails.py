"""Evaluates guardrails (a workspace's or a key's) on text: deny rules and redaction of e-mails, phone numbers
and cards.

Used by the ingress on prompts (before anything is published or held) and by the workers on answers. Matching
runs on RE2, whose time is linear in the text's length, so a hostile prompt cannot make a rule take long:
the whole check is bounded by (prompt size) x (number of rules), and both are bounded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
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

    @staticmethod
    def _replace(match: Any, kind: str, counts: Counter[str]) -> str:
        found = str(match.group(0))
        if kind == "card" and not luhn_valid(_digits(found)):
            return found
        if kind == "phone" and len(_digits(found)) not in PHONE_DIGITS:
            return found
        counts[kind] += 1
        return f"[REDACTED:{kind}]"
