"""Runs the webhook endpoint commands (`schemas.webhooks`) that arrive in the finance family of `ledger.commands`."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import webhooks
from ledger.webhook_network import NetworkPolicy
from schemas.webhooks import CreateWebhook, DeleteWebhook, RedeliverWebhook, RotateWebhookSecret, UpdateWebhook

WebhookCommand = CreateWebhook | UpdateWebhook | DeleteWebhook | RotateWebhookSecret | RedeliverWebhook


def handles(command: object) -> bool:
    return isinstance(command, CreateWebhook | UpdateWebhook | DeleteWebhook | RotateWebhookSecret | RedeliverWebhook)


async def execute(conn: AsyncConnection, workspace_id: str, command: Any, network: NetworkPolicy) -> dict[str, Any]:
    """Run one command for a workspace; a refusal (`FinanceInputError`, `WebhookNotFound`) writes nothing."""
    if isinstance(command, CreateWebhook):
        return await webhooks.create_endpoint(
            conn,
            workspace_id,
            url=command.url,
            event_types=list(command.event_types),
            description=command.description,
            enabled=command.enabled,
            secret=command.secret,
            policy=network,
        )
    if isinstance(command, UpdateWebhook):
        changes = command.model_dump(include={"url", "event_types", "description", "enabled"})
        return await webhooks.update_endpoint(conn, workspace_id, command.endpoint_id, changes, network)
    if isinstance(command, DeleteWebhook):
        deleted = await webhooks.delete_endpoint(conn, workspace_id, command.endpoint_id)
        if not deleted:
            raise webhooks.WebhookNotFound(f"webhook endpoint {command.endpoint_id!r} not found")
        return {"id": command.endpoint_id, "deleted": True}
    if isinstance(command, RotateWebhookSecret):
        return await webhooks.rotate_secret(conn, workspace_id, command.endpoint_id, command.grace_s)
    assert isinstance(command, RedeliverWebhook), f"unhandled webhook command {command!r}"
    return await webhooks.redeliver(conn, workspace_id, command.delivery_id)
