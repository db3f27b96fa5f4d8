"""Where the CLI finds the stack: `.run/stack.env`, the `KEY=value` file `make up` writes.

By default that is `.run/stack.env` in the current folder when there is one, else the one in the checkout the CLI
is run from (`make up` writes it there), so a command works from any folder.
"""

from __future__ import annotations

from pathlib import Path

import click

LOCAL_ENV_FILE = Path(".run/stack.env")
CHECKOUT_ENV_FILE = Path(__file__).resolve().parents[1] / ".run" / "stack.env"
DEFAULT_ENV_FILE_HELP = ".run/stack.env here, else in the CLI's checkout"


def default_env_file() -> Path:
    """The env file read when none is named: the current folder's, else the checkout's (looked up when run)."""
    return LOCAL_ENV_FILE if LOCAL_ENV_FILE.exists() else CHECKOUT_ENV_FILE


class StackNotFound(click.ClickException):
    """No address to talk to: neither an option nor the stack's env file names one."""

    exit_code = 2


def parse(text: str) -> dict[str, str]:
    """`KEY=value` lines (optionally `export`ed or quoted), as `make up` writes them; other lines are ignored."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip().removeprefix("export ").strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, found = line.split("=", 1)
        values[name.strip()] = found.strip().strip("'\"")
    return values


def read(path: Path) -> dict[str, str]:
    """The file's settings; a missing or unreadable file is an error that says how to get one."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StackNotFound(f"cannot read {path}: {exc.strerror}; run `make up` or pass the address") from exc
    return parse(text)


def value(path: Path, key: str) -> str:
    found = read(path).get(key)
    if not found:
        raise StackNotFound(f"{path} does not set {key}")
    return found
