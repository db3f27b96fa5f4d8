"""JSON integers outside the 64-bit range: found in untrusted JSON, named by their field path, refused.

orjson reads an integer literal beyond -2**63 .. 2**64-1 as a float without saying so (1180591620717411303425
becomes 1.1805916207174113e+21), and refuses to write a Python int that large. So such a number in a caller's
request (a tool's JSON schema, a response_format) would reach the provider altered, and an exact one would
crash the hop that writes it; in a provider's answer it would reach the caller altered. Every parse of
untrusted JSON therefore keeps orjson for speed and validation, then looks at what orjson made of it: such an
integer always comes out as a float of magnitude 2**63 or more, which real requests and answers hardly ever
hold. Only a document holding one is parsed again with the standard library, exactly, to tell an integer
literal from a float literal; the caller refuses the document, naming the first integer outside the range.
The look costs one pass over the parsed values (not over the bytes: long texts are one string each).

The standard library's parse sees each integer literal as text first (`parse_int`): one outside the range
becomes a `WideInteger` holding that text, never converted, so a literal of any length costs no more than
its bytes and never meets Python's limit on converting long digit strings.
"""

from __future__ import annotations

import json
from typing import Any

# What orjson reads and writes exactly (unsigned 64-bit above zero, signed 64-bit below it).
INTEGER_MIN = -(2**63)
INTEGER_MAX = 2**64 - 1
# Digits shown of a literal in a message; a longer one is shown by its head and its length.
SHOWN_DIGITS_MAX = 40
# orjson's float for an integer outside the range has at least this magnitude (-2**63-1 rounds to -2**63).
_SUSPECT_FLOAT_MIN = 2.0**63


class WideInteger:
    """An integer literal outside the range, kept as its text: no JSON encoder writes it, so it cannot travel."""

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = literal

    def __repr__(self) -> str:
        return f"WideInteger({shown(self.literal)})"


class IntegerOutOfRange(ValueError):
    """A document holds an integer outside the range; `path` is its field path (`tools.0.function...`)."""

    def __init__(self, path: str, shown_value: str) -> None:
        self.path = path
        self.shown_value = shown_value
        what = f"integer {shown_value} is outside the 64-bit range this API accepts"
        super().__init__(f"'{path}': {what}" if path else what)


def may_hold_wide_integer(document: Any) -> bool:
    """Whether orjson's parse of a document may stand for an integer outside the range: it holds a float of
    magnitude 2**63 or more (an integer literal read as a float, or a float literal that large)."""
    if type(document) is float:
        return not -_SUSPECT_FLOAT_MIN < document < _SUSPECT_FLOAT_MIN
    if type(document) is not dict and type(document) is not list:
        return False
    # Only containers go on the stack; strings, ints, booleans and null are passed over where they stand.
    stack: list[Any] = [document]
    pop, push = stack.pop, stack.append
    while stack:
        node = pop()
        for value in node.values() if type(node) is dict else node:
            kind = type(value)
            if kind is float:
                if not -_SUSPECT_FLOAT_MIN < value < _SUSPECT_FLOAT_MIN:
                    return True
            elif kind is dict or kind is list:
                push(value)
    return False


def loads_exact(raw: bytes | str) -> Any:
    """The document with every integer exact, those outside the range as `WideInteger`.

    For text orjson has already accepted (valid UTF-8 JSON without NaN or Infinity). A document nested deeper
    than Python's recursion limit allows is a ValueError: it cannot be checked, so it cannot be accepted.
    """
    try:
        return json.loads(raw, parse_int=_integer)
    except RecursionError as exc:
        raise ValueError("the document is nested too deeply to check its numbers") from exc


def find_wide_integer(document: Any, prefix: str = "") -> IntegerOutOfRange | None:
    """The first integer outside the range (a `WideInteger`, or an exact Python int) in a parsed document, in
    document order, with its path after `prefix`; None when there is none."""
    stack: list[tuple[Any, str]] = [(document, prefix)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            stack.extend((value, _joined(path, str(key))) for key, value in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((value, _joined(path, str(index))) for index, value in reversed(list(enumerate(node))))
        elif isinstance(node, WideInteger):
            return IntegerOutOfRange(path, shown(node.literal))
        elif type(node) is int and not INTEGER_MIN <= node <= INTEGER_MAX:
            return IntegerOutOfRange(path, _shown_int(node))
    return None


def refuse_wide_integers(raw: bytes | str, document: Any) -> None:
    """Raise `IntegerOutOfRange` (or ValueError, see `loads_exact`) when JSON text holds an integer outside the
    range; `document` is orjson's parse of `raw`. Costs one pass over `document` unless it holds a suspect float."""
    if not may_hold_wide_integer(document):
        return
    found = find_wide_integer(loads_exact(raw))
    if found is not None:
        raise found


def wide_integer_refused(raw: bytes | str) -> IntegerOutOfRange | None:
    """The integer outside the range that made a parser refuse JSON text, with its path; None when the text is
    invalid for another reason (or holds no such integer).

    orjson refuses an integer literal too long for a double ("number is infinity when parsed as double"),
    pydantic's parser one too long for it ("number out of range"), and Python's one of more than 4300 digits:
    each calls a valid document invalid without naming the field. Called only once a parser has refused `raw`,
    so a document accepted costs nothing more.
    """
    try:
        return find_wide_integer(loads_exact(raw))
    except ValueError:
        return None


def shown(literal: str) -> str:
    """An integer's text for a message: whole up to SHOWN_DIGITS_MAX digits, else its head and length."""
    if len(literal) <= SHOWN_DIGITS_MAX:
        return literal
    return f"{literal[:SHOWN_DIGITS_MAX]}... ({len(literal.lstrip('-'))} digits)"


def _integer(literal: str) -> int | WideInteger:
    # A literal of 21 digits or more is outside the range whatever they are; shorter ones are converted.
    if len(literal.lstrip("-")) > len(str(INTEGER_MAX)):
        return WideInteger(literal)
    value = int(literal)
    return value if INTEGER_MIN <= value <= INTEGER_MAX else WideInteger(literal)


def _shown_int(value: int) -> str:
    # Python refuses to write an int of more than 4300 digits as text (a guard against slow conversions).
    if value.bit_length() > 14_000:
        return f"of about {int(value.bit_length() * 0.30103)} digits"
    return shown(str(value))


def _joined(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part
