"""Tells the stack runner a service is up, by writing the file it was told to watch."""

from __future__ import annotations

import os
from pathlib import Path


def mark_ready(ready_file: Path | None) -> None:
    if ready_file is None:
        return
    ready_file.parent.mkdir(parents=True, exist_ok=True)
    ready_file.write_text(f"{os.getpid()}\n", encoding="utf-8")


def clear_ready(ready_file: Path | None) -> None:
    if ready_file is not None:
        ready_file.unlink(missing_ok=True)
