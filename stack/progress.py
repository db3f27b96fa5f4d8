"""Progress lines for the long steps of ``make up`` and ``make test``: what is being done, and how long it took.

A first run installs packages and downloads Kafka for minutes; a line before and after each step says what
is happening, so a slow step is never mistaken for a hang. Lines go to stderr, which ``make`` shows as they
come, and stdout stays for what a caller may parse.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


@contextmanager
def step(what: str, stream: TextIO | None = None) -> Iterator[None]:
    """Print ``stack: <what> ...`` now and ``stack: <what>: done in N.Ns`` (or ``failed after``) at the end."""
    out = stream or sys.stderr
    print(f"stack: {what} ...", file=out, flush=True)
    started = time.monotonic()
    try:
        yield
    except BaseException:
        print(f"stack: {what}: failed after {time.monotonic() - started:.1f}s", file=out, flush=True)
        raise
    print(f"stack: {what}: done in {time.monotonic() - started:.1f}s", file=out, flush=True)
