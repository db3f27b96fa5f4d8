"""Parses RFC 7240 `Prefer` for the two preferences the completions endpoint honours.

`wait=N` takes whole seconds. A wait longer than any the server grants, however many digits it has, reads as
`WAIT_READ_MAX_S`; the caller's wait is then capped by the server's own maximum and the wait applied is
echoed in `Preference-Applied`, as RFC 7240 lets the server decide how long it waits.
"""

from __future__ import annotations

from dataclasses import dataclass

# Above every configurable sync wait; longer values (309 digits, or 5000) read as this instead of overflowing.
WAIT_READ_MAX_S = 86_400
_WAIT_DIGITS_MAX = len(str(WAIT_READ_MAX_S))


@dataclass(frozen=True, slots=True)
class Preferences:
    respond_async: bool = False
    wait_s: float | None = None


def parse_prefer(header: str | None) -> Preferences:
    """`respond-async` and `wait=N`; unknown or malformed preferences are ignored, as the RFC asks."""
    if not header:
        return Preferences()
    respond_async = False
    wait_s: float | None = None
    for item in header.split(","):
        preference = item.split(";", 1)[0].strip().lower()
        if preference == "respond-async":
            respond_async = True
        elif preference.startswith("wait"):
            name, _, value = preference.partition("=")
            value = value.strip().strip('"')
            # isdigit() alone admits superscripts such as '¹', which int() refuses.
            if name.strip() == "wait" and value.isascii() and value.isdigit():
                digits = value.lstrip("0") or "0"
                seconds = int(digits) if len(digits) <= _WAIT_DIGITS_MAX else WAIT_READ_MAX_S
                wait_s = float(min(seconds, WAIT_READ_MAX_S))
    return Preferences(respond_async=respond_async, wait_s=wait_s)
