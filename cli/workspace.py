"""`luntrex workspace create|list|show|update|grant|suspend|resume|cancel-batch|guardrails` (admin credential)."""

from __future__ import annotations

from typing import IO

import click

from cli.client import Connection, connection_options, emit, progress, request
from cli.guardrails_file import read_guardrails


@click.group()
def workspace() -> None:
    """Create, inspect and suspend workspaces."""


@workspace.command()
@click.argument("name")
@click.option("--topup-bdt", type=click.IntRange(min=1), help="starting credit in whole BDT")
@click.option("--topup-tokens", type=click.IntRange(min=1), help="starting credit in credit tokens")
@click.option("--id", "workspace_id", help="workspace id (default: generated)")
@click.option("--default-model", help="model used when a request names none")
@click.option("--credit-line-tokens", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--rpm", type=click.IntRange(min=1), help="the workspace's requests per minute (default: no limit)")
@click.option("--tpm", type=click.IntRange(min=1), help="the workspace's tokens per minute (default: no limit)")
@connection_options
def create(
    connection: Connection,
    name: str,
    topup_bdt: int | None,
    topup_tokens: int | None,
    workspace_id: str | None,
    default_model: str | None,
    credit_line_tokens: int,
    rpm: int | None,
    tpm: int | None,
) -> None:
    """Create a workspace and a key with every scope (shown once)."""
    if topup_bdt is not None and topup_tokens is not None:
        # The API refuses both too: each would be credited, their sum more than meant.
        raise click.UsageError("give --topup-bdt or --topup-tokens, not both")
    body = {"name": name, "credit_line_tokens": credit_line_tokens}
    optional = {
        "id": workspace_id,
        "default_model": default_model,
        "grant_bdt": topup_bdt,
        "grant_tokens": topup_tokens,
        "rpm_max": rpm,
        "tpm_max": tpm,
    }
    body.update({field: value for field, value in optional.items() if value is not None})
    progress(f"creating workspace '{name}' (the ledger applies it)...")
    created = request(connection, "POST", "/admin/workspaces", admin=True, body=body)
    created["workspace_id"] = created["id"]
    emit(created)


@workspace.command("list")
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True)
@click.option("--after", help="list workspaces after this id (paging)")
@connection_options
def list_(connection: Connection, limit: int, after: str | None) -> None:
    """List workspaces in id order."""
    query = f"?limit={limit}" + (f"&after={after}" if after else "")
    emit(request(connection, "GET", f"/admin/workspaces{query}", admin=True))


@workspace.command()
@click.argument("workspace_id")
@connection_options
def show(connection: Connection, workspace_id: str) -> None:
    """A workspace's settings and balance."""
    emit(request(connection, "GET", f"/admin/workspaces/{workspace_id}", admin=True))


@workspace.command()
@click.argument("workspace_id")
@click.option("--name", help="the workspace's new name")
@click.option("--default-model", help="model used when a request names none")
@click.option(
    "--credit-line-tokens", type=click.IntRange(min=0), help="how far below zero it may spend (not below what it owes)"
)
@click.option("--rpm", type=click.IntRange(min=1), help="the workspace's requests per minute")
@click.option("--tpm", type=click.IntRange(min=1), help="the workspace's tokens per minute")
@connection_options
def update(
    connection: Connection,
    workspace_id: str,
    name: str | None,
    default_model: str | None,
    credit_line_tokens: int | None,
    rpm: int | None,
    tpm: int | None,
) -> None:
    """Change a workspace's name, default model, credit line or rate limits; what is not given stays as it is."""
    fields = {
        "name": name,
        "default_model": default_model,
        "credit_line_tokens": credit_line_tokens,
        "rpm_max": rpm,
        "tpm_max": tpm,
    }
    body = {field: value for field, value in fields.items() if value is not None}
    if not body:
        raise click.UsageError("nothing to change: give --name, --default-model, --credit-line-tokens, --rpm or --tpm")
    progress(f"changing workspace '{workspace_id}' (the ledger applies it)...")
    emit(request(connection, "PATCH", f"/admin/workspaces/{workspace_id}", admin=True, body=body))


@workspace.command()
@click.argument("workspace_id")
@click.option("--tokens", type=click.IntRange(min=1), help="credit in credit tokens")
@click.option("--bdt", type=click.IntRange(min=1), help="credit in whole BDT, at the workspace's rate in force")
@click.option("--reason", help="why, recorded with the journal entry")
@connection_options
def grant(connection: Connection, workspace_id: str, tokens: int | None, bdt: int | None, reason: str | None) -> None:
    """Credit a workspace (an operator's grant, not a payment: see `luntrex topup`); one journal entry."""
    if (tokens is None) == (bdt is None):
        raise click.UsageError("give exactly one of --tokens or --bdt")
    body: dict[str, int | str] = {"tokens": tokens} if tokens is not None else {"bdt": bdt or 0}
    if reason is not None:
        body["reason"] = reason
    progress(f"granting credit to workspace '{workspace_id}' (the ledger applies it)...")
    emit(request(connection, "POST", f"/admin/workspaces/{workspace_id}/grants", admin=True, body=body))


@workspace.command()
@click.argument("workspace_id")
@connection_options
def suspend(connection: Connection, workspace_id: str) -> None:
    """Refuse every key of the workspace (403 workspace_suspended) until resumed."""
    emit(request(connection, "POST", f"/admin/workspaces/{workspace_id}/suspend", admin=True))


@workspace.command()
@click.argument("workspace_id")
@connection_options
def resume(connection: Connection, workspace_id: str) -> None:
    """Let a suspended workspace's keys work again."""
    emit(request(connection, "POST", f"/admin/workspaces/{workspace_id}/resume", admin=True))


@workspace.command("cancel-batch")
@click.argument("batch_id")
@connection_options
def cancel_batch(connection: Connection, batch_id: str) -> None:
    """Cancel any workspace's batch (a suspended one's too): queued lines are cancelled uncharged, running ones
    finish and are billed."""
    emit(request(connection, "POST", f"/admin/batches/{batch_id}/cancel", admin=True))


@workspace.command()
@click.argument("workspace_id")
@click.option(
    "--set",
    "document",
    type=click.File("r"),
    help="replace them with this JSON file's set ('-' reads standard input); see README, Guardrails",
)
@click.option("--clear", is_flag=True, help="remove every guardrail of the workspace")
@connection_options
def guardrails(connection: Connection, workspace_id: str, document: IO[str] | None, clear: bool) -> None:
    """Show a workspace's guardrails, or replace them (--set FILE) or remove them (--clear)."""
    if document is not None and clear:
        raise click.UsageError("--set and --clear are exclusive")
    if document is None and not clear:
        shown = request(connection, "GET", f"/admin/workspaces/{workspace_id}", admin=True)
        emit({"workspace_id": workspace_id, "guardrails": shown.get("guardrails")})
        return
    body = {"guardrails": read_guardrails(document) if document is not None else None}
    progress("changing the workspace's guardrails (the ledger applies it)...")
    changed = request(connection, "PATCH", f"/admin/workspaces/{workspace_id}", admin=True, body=body)
    emit({"workspace_id": workspace_id, "guardrails": changed.get("guardrails")})
