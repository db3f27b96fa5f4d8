"""`luntrex webhook ...`: the workspace's webhook endpoints and their delivery logs (with LUNTREX_API_KEY; a key
with the `manage` scope changes them, `billing` or `manage` reads them)."""

from __future__ import annotations

from typing import Any

import click

from cli.client import Connection, connection_options, emit, request

EVENT_TYPES = (
    "job.completed",
    "job.failed",
    "batch.completed",
    "topup.succeeded",
    "topup.failed",
    "balance.threshold_crossed",
)


@click.group()
def webhook() -> None:
    """Webhook endpoints: create, list, show, update, delete, rotate-secret, deliveries, redeliver."""


@webhook.command()
@click.argument("url")
@click.option("--event", "events", multiple=True, required=True, type=click.Choice(EVENT_TYPES), help="repeatable")
@click.option("--description", default="")
@click.option("--disabled", is_flag=True, help="create it disabled")
@connection_options
def create(connection: Connection, url: str, events: tuple[str, ...], description: str, disabled: bool) -> None:
    """Register URL for the given event types; prints the endpoint and its secret (shown this once)."""
    body = {"url": url, "event_types": list(events), "description": description, "enabled": not disabled}
    emit(request(connection, "POST", "/webhooks", admin=False, body=body))


@webhook.command(name="list")
@connection_options
def list_(connection: Connection) -> None:
    """The workspace's endpoints (never their secrets)."""
    emit(request(connection, "GET", "/webhooks", admin=False))


@webhook.command()
@click.argument("endpoint_id")
@connection_options
def show(connection: Connection, endpoint_id: str) -> None:
    """One endpoint: its URL, event types, state and description (never its secret)."""
    emit(request(connection, "GET", f"/webhooks/{endpoint_id}", admin=False))


@webhook.command()
@click.argument("endpoint_id")
@click.option("--url")
@click.option("--event", "events", multiple=True, type=click.Choice(EVENT_TYPES), help="replaces the event types")
@click.option("--description")
@click.option("--enable/--disable", "enabled", default=None)
@connection_options
def update(
    connection: Connection,
    endpoint_id: str,
    url: str | None,
    events: tuple[str, ...],
    description: str | None,
    enabled: bool | None,
) -> None:
    """Change the given fields of ENDPOINT_ID."""
    body: dict[str, Any] = {"url": url, "description": description, "enabled": enabled}
    if events:
        body["event_types"] = list(events)
    body = {name: value for name, value in body.items() if value is not None}
    if not body:
        raise click.UsageError("nothing to change: give --url, --event, --description or --enable/--disable")
    emit(request(connection, "PATCH", f"/webhooks/{endpoint_id}", admin=False, body=body))


@webhook.command()
@click.argument("endpoint_id")
@connection_options
def delete(connection: Connection, endpoint_id: str) -> None:
    """Delete ENDPOINT_ID; its pending and held deliveries end dead."""
    emit(request(connection, "DELETE", f"/webhooks/{endpoint_id}", admin=False))


@webhook.command(name="rotate-secret")
@click.argument("endpoint_id")
@click.option("--grace-s", type=click.IntRange(0, 7 * 86_400), default=86_400, show_default=True)
@connection_options
def rotate_secret(connection: Connection, endpoint_id: str, grace_s: int) -> None:
    """A new secret (printed once); the old one keeps signing beside it for --grace-s seconds."""
    emit(request(connection, "POST", f"/webhooks/{endpoint_id}/rotate-secret", admin=False, body={"grace_s": grace_s}))


@webhook.command()
@click.argument("endpoint_id")
@click.option("--cursor")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@connection_options
def deliveries(connection: Connection, endpoint_id: str, cursor: str | None, limit: int) -> None:
    """The delivery log, newest first: each event, its state and every attempt."""
    query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
    emit(request(connection, "GET", f"/webhooks/{endpoint_id}/deliveries{query}", admin=False))


@webhook.command()
@click.argument("delivery_id", type=click.IntRange(1))
@connection_options
def redeliver(connection: Connection, delivery_id: int) -> None:
    """Send DELIVERY_ID again (the same webhook-id), its retry schedule starting over."""
    emit(request(connection, "POST", f"/webhooks/deliveries/{delivery_id}/redeliver", admin=False))
