"""Reads a guardrail set from a JSON file for `--set` / `--guardrails` (the API checks what is in it)."""

from __future__ import annotations

import json
from typing import IO, Any

import click


def read_guardrails(document: IO[str]) -> dict[str, Any]:
    """The JSON object in `document`; a file that is not one is a usage error, before anything is sent."""
    try:
        value = json.load(document)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="guardrails file") from exc
    if not isinstance(value, dict):
        raise click.BadParameter('must hold a JSON object, e.g. {"deny": [...]}', param_hint="guardrails file")
    return value
