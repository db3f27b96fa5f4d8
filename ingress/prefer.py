"""Parses RFC 7240 `Prefer` for the two preferences the completions endpoint honours."""

from __future__ import annotations

from dataclasses import dataclass


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
                wait_s = float(int(value))
    return Preferences(respond_async=respond_async, wait_s=wait_s)
