"""`luntrex topup WORKSPACE BDT`: buy credit for a workspace (admin credential), idempotent by a key."""

from __future__ import annotations

import uuid

import click

from cli.client import Connection, connection_options, emit, progress, request


@click.command()
@click.argument("workspace_id")
@click.argument("bdt")
@click.option("--method", type=click.Choice(["invoice", "card"]), default="invoice", show_default=True)
@click.option("--idempotency-key", help="reuse the key a previous run printed to retry it safely (default: a new one)")
@connection_options
def topup(connection: Connection, workspace_id: str, bdt: str, method: str, idempotency_key: str | None) -> None:
    """Top up WORKSPACE_ID by BDT (such as 250 or 250.50), converted at its rate in force; prints the top-up."""
    key = idempotency_key or f"cli_{uuid.uuid4().hex}"
    progress(f"topping up {workspace_id} by {bdt} BDT ({method}, Idempotency-Key {key})...")
    answer = request(
        connection,
        "POST",
        f"/admin/workspaces/{workspace_id}/topups",
        admin=True,
        body={"amount_bdt": bdt, "method": method},
        headers={"Idempotency-Key": key},
    )
    answer["idempotency_key"] = key
    emit(answer)
    # A declined payment is an answer, not an HTTP error: without this a script saw exit 0 and no credit.
    if answer.get("status") == "failed":
        raise click.ClickException(f"top-up {answer.get('id')} failed: {answer.get('failure_reason') or 'declined'}")
