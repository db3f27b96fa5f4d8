"""The operator's admin credential for the local stack: minted once, kept in `.run/stack.env` (0600).

`make up` gives it to ingress as LUNTREX_ADMIN_KEY and prints it. It is reused across restarts like the demo
key: a running ingress keeps the key it was started with (a running supervisor keeps its plan), else the key
recorded in the env file, else a new random one (256 bits, URL-safe, so it can be written unquoted).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from pathlib import Path

from ingress.settings import ADMIN_KEY_LENGTH_MIN
from stack import envfile

ENV_NAME = "LUNTREX_ADMIN_KEY"
ADMIN_KEY_BYTES = 32
# What `secrets.token_urlsafe` produces; anything else recorded (hand-edited, truncated) is replaced.
_SHAPE = re.compile(rf"[A-Za-z0-9_-]{{{ADMIN_KEY_LENGTH_MIN},200}}")


def usable(value: str | None) -> bool:
    return value is not None and _SHAPE.fullmatch(value) is not None


def resolve(recorded: Mapping[str, str], running: Mapping[str, str] | None = None) -> tuple[str, bool]:
    """The admin key to run with, and whether it is an existing one (running, then recorded) or new."""
    for source in (running or {}, recorded):
        value = source.get(ENV_NAME)
        if usable(value):
            assert value is not None
            return value, True
    return secrets.token_urlsafe(ADMIN_KEY_BYTES), False


def ensure(env_file: Path, running: Mapping[str, str] | None = None) -> tuple[str, bool]:
    """Resolve the admin key and record it in ``env_file`` (0600) before any process is started with it."""
    key, reused = resolve(envfile.read(env_file), running)
    envfile.update(env_file, {ENV_NAME: key})
    return key, reused
