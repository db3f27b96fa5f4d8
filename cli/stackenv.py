"""Where the CLI finds the stack: `.run/stack.env`, the `KEY=value` file `make up` writes."""

from __future__ import annotations

import re
from pathlib import Path

import click

DEFAULT_ENV_FILE = Path(".run/stack.env")
_KEY_VALUE_LINE = re.compile(r"^(?P<key>[A-Z][A-Z0-9_]*)=(?P<value>\S.*)$")


class StackNotFound(click.ClickException):
    """No address to talk to: neither an option nor the stack's env file names one."""

    exit_code = 2


def read(path: Path) -> dict[str, str]:
    """The `KEY=value` lines of the file; every other line is ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StackNotFound(f"cannot read {path}: {exc.strerror}; run `make up` or pass the address") from exc
    pairs = (_KEY_VALUE_LINE.match(line.strip()) for line in text.splitlines())
    return {match["key"]: match["value"] for match in pairs if match is not None}


def value(path: Path, key: str) -> str:
    found = read(path).get(key)
    if not found:
        raise StackNotFound(f"{path} does not set {key}")
    return found
