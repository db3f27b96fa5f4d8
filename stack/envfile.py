"""Read and write the ``KEY=value`` files the stack leaves for shells, Makefiles and tests.

Every file is written owner-only (0600): ``stack.env`` holds the demo API key, and the supervisor's plan holds
each service's environment.
"""

from __future__ import annotations

import os
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
    write_private(path, "".join(f"{key}={value}\n" for key, value in values.items()))


def update(path: Path, values: Mapping[str, str]) -> None:
    """Set ``values`` in the file at ``path``, keeping its other lines' keys."""
    write(path, {**read(path), **values})


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, readable by its owner only (0600) from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    temporary.replace(path)
