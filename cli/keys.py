"""`luntrex key create|rotate|revoke|list|guardrails` (admin credential)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import IO

import click

from cli.client import Connection, connection_options, emit, request
from cli.guardrails_file import read_guardrails

_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3_600, "d": 86_400}
_KEY = re.compile(r"^lx_(?:live_)?([0-9a-f]{12})_.+$")


def expires_in_s(value: str) -> int:
    """`--expires`: a duration (`90s`, `30m`, `12h`, `30d`) or an ISO 8601 time with its offset."""
    match = _DURATION.match(value.strip())
    if match:
        seconds = int(match.group(1)) * _SECONDS[match.group(2)]
    else:
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise click.BadParameter(
                "use a duration like 30d, 12h, 90m, 3600s or an ISO time", param_hint="--expires"
            ) from exc
        if when.tzinfo is None:
            raise click.BadParameter(
                "an ISO time needs its UTC offset, e.g. 2030-01-01T00:00:00+00:00", param_hint="--expires"
            )
        seconds = int((when - datetime.now(UTC)).total_seconds())
    if seconds <= 0:
        raise click.BadParameter("the expiry must be in the future", param_hint="--expires")
    return seconds


def key_id_of(key_or_id: str) -> str:
    """A key id from either the id itself or a whole key (`lx_live_<id>_...`)."""
    match = _KEY.match(key_or_id)
    return match.group(1) if match else key_or_id


@click.group()
def key() -> None:
    """Mint, rotate, revoke and list API keys of any workspace."""


@key.command()
@click.argument("workspace_id")
@click.option("--name", default="api key", show_default=True)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(["inference", "billing", "manage"]),
    help="repeat for several (default: inference)",
)
@click.option("--rpm", type=click.IntRange(min=1), help="requests per minute (429 rate_limit_exceeded past it)")
@click.option("--tpm", type=click.IntRange(min=1), help="tokens per minute (input estimate + max_tokens per request)")
@click.option("--daily-spend", type=click.IntRange(min=1), help="credit tokens per UTC day (403 spend_cap_reached)")
@click.option("--monthly-spend", type=click.IntRange(min=1), help="credit tokens per UTC month")
@click.option("--expires", help="30d, 12h, 90m, 3600s or an ISO time")
@click.option("--model", "models", multiple=True, help="allowed model (repeat); default: every model")
@click.option("--max-tokens", type=click.IntRange(min=1), help="the largest max_tokens a request may ask")
@click.option(
    "--guardrails",
    "guardrails_file",
    type=click.File("r"),
    help="the key's own guardrails, a JSON file ('-': standard input); they add to the workspace's",
)
@connection_options
def create(
    connection: Connection,
    workspace_id: str,
    name: str,
    scopes: tuple[str, ...],
    rpm: int | None,
    tpm: int | None,
    daily_spend: int | None,
    monthly_spend: int | None,
    expires: str | None,
    models: tuple[str, ...],
    max_tokens: int | None,
    guardrails_file: IO[str] | None,
) -> None:
    """Mint a key for WORKSPACE_ID; the secret (`key`) is shown once."""
    body: dict[str, object] = {"name": name}
    optional: dict[str, object | None] = {
        "scopes": list(scopes) or None,
        "rpm_max": rpm,
        "tpm_max": tpm,
        "daily_spend_max_tokens": daily_spend,
        "monthly_spend_max_tokens": monthly_spend,
        "expires_in_s": expires_in_s(expires) if expires else None,
        "allowed_models": list(models) or None,
        "max_tokens_max": max_tokens,
        "guardrails": read_guardrails(guardrails_file) if guardrails_file is not None else None,
    }
    body.update({field: value for field, value in optional.items() if value is not None})
    minted = request(connection, "POST", f"/admin/workspaces/{workspace_id}/keys", admin=True, body=body)
    emit(minted)


@key.command()
@click.argument("key_or_id")
@click.option(
    "--grace-s",
    type=click.FloatRange(min=0),
    default=3_600,
    show_default=True,
    help="how long the old key keeps working",
)
@connection_options
def rotate(connection: Connection, key_or_id: str, grace_s: float) -> None:
    """Mint a successor with the same attributes and name; the old key stops after the grace period."""
    rotated = request(
        connection, "POST", f"/admin/keys/{key_id_of(key_or_id)}/rotate", admin=True, body={"grace_s": grace_s}
    )
    emit(rotated)


@key.command()
@click.argument("key_or_id")
@connection_options
def revoke(connection: Connection, key_or_id: str) -> None:
    """Stop a key for good, on every ingress at once."""
    key_id = key_id_of(key_or_id)
    request(connection, "DELETE", f"/admin/keys/{key_id}", admin=True)
    emit({"revoked": key_id})


@key.command("list")
@click.argument("workspace_id")
@connection_options
def list_(connection: Connection, workspace_id: str) -> None:
    """A workspace's keys (never their secrets)."""
    emit(request(connection, "GET", f"/admin/workspaces/{workspace_id}/keys", admin=True))


@key.command()
@click.argument("key_or_id")
@click.option(
    "--set",
    "document",
    type=click.File("r"),
    help="replace them with this JSON file's set ('-' reads standard input); see README, Guardrails",
)
@click.option("--clear", is_flag=True, help="remove every guardrail of the key")
@connection_options
def guardrails(connection: Connection, key_or_id: str, document: IO[str] | None, clear: bool) -> None:
    """Show a key's guardrails, or replace them (--set FILE) or remove them (--clear), on every ingress at once.

    What the operator sets is imposed on the key: the workspace's own keys may add to it, never lift it.
    """
    if document is not None and clear:
        raise click.UsageError("--set and --clear are exclusive")
    path = f"/admin/keys/{key_id_of(key_or_id)}/guardrails"
    if document is None and not clear:
        emit(request(connection, "GET", path, admin=True))
    elif clear:
        emit(request(connection, "DELETE", path, admin=True))
    else:
        assert document is not None
        emit(request(connection, "PUT", path, admin=True, body=read_guardrails(document)))
