"""`luntrex chat "prompt"`: one quick completion with a workspace key."""

from __future__ import annotations

import click

from cli.client import Connection, connection_options, emit, progress, request


@click.command()
@click.argument("prompt")
@click.option("--model", help="model id or alias (default: the workspace's)")
@click.option("--max-tokens", type=click.IntRange(min=1), help="cap on the answer's tokens")
@connection_options
def chat(connection: Connection, prompt: str, model: str | None, max_tokens: int | None) -> None:
    """Send PROMPT as one user message; prints the billed answer."""
    body: dict[str, object] = {"messages": [{"role": "user", "content": prompt}]}
    if model:
        body["model"] = model
    if max_tokens:
        body["max_tokens"] = max_tokens
    progress("waiting for the answer...")
    emit(request(connection, "POST", "/chat/completions", admin=False, body=body))
