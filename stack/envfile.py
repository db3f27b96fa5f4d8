"""Read and write the ``KEY=value`` files the stack leaves for shells, Makefiles and tests."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

KEY_VALUE_LINE = re.compile(r"^(?P<key>[A-Z][A-Z0-9_]*)=(?P<value>\S.*)$")


def parse(text: str) -> dict[str, str]:
    """The ``KEY=value`` lines of ``text``; every other line is ignored."""
    pairs: dict[str, str] = {}
    for line in text.splitlines():
        match = KEY_VALUE_LINE.match(line.strip())
        if match is not None:
            pairs[match["key"]] = match["value"]
    return pairs


def read(path: Path) -> dict[str, str]:
    try:
        return parse(path.read_text())
    except FileNotFoundError:
        return {}


def write(path: Path, values: Mapping[str, str]) -> None:
    """Write values unquoted, so the file works with ``. file`` in sh, Make's ``include`` and dotenv."""
    for key, value in values.items():
        if not KEY_VALUE_LINE.match(f"{key}={value}") or any(char in value for char in " '\"$`\\"):
            raise ValueError(f"{key}={value!r} cannot be written unquoted")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    temporary.replace(path)
