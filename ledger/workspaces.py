"""Workspace settings the ledger owns: update, suspend and read back a workspace's state.

Creation and grants go through `journal` (they open accounts and move money); this module changes the
settings row and keeps the available account's floor equal to minus the credit line.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import domain
from ledger.domain import AccountKind
from schemas.events import WorkspaceChanged

# The settings an update may name; anything else in `fields_set` is ignored.
UPDATABLE = ("name", "default_model", "credit_line_tokens", "rpm_max", "tpm_max", "guardrails")


async def state(conn: AsyncConnection, workspace_id: str) -> WorkspaceChanged | None:
    row = (
        await conn.execute(
            text(
                "SELECT id, name, default_model, credit_line_tokens, tokens_per_bdt, rpm_max, tpm_max, "
                "suspended_at IS NOT NULL AS suspended, revision, guardrails FROM workspaces WHERE id = :id"
            ),
            {"id": workspace_id},
        )
    ).first()
    if row is None:
        return None
    return WorkspaceChanged(
        workspace_id=row.id,
        revision=row.revision,
        name=row.name,
        default_model=row.default_model,
        credit_line_tokens=row.credit_line_tokens,
        tokens_per_bdt=row.tokens_per_bdt,
        rpm_max=row.rpm_max,
        tpm_max=row.tpm_max,
        suspended=row.suspended,
        guardrails=row.guardrails,
    )


async def update(conn: AsyncConnection, workspace_id: str, changes: dict[str, Any]) -> bool:
    """Set the named settings; returns False when the workspace does not exist."""
    names = [name for name in UPDATABLE if name in changes]
    assignments = ", ".join(_assignment(name) for name in names)
    values = {name: changes[name] for name in names}
    if "guardrails" in values:
        # {} (no guardrails left) is stored as NULL: one way to say "none".
        values["guardrails"] = json.dumps(values["guardrails"]) if values["guardrails"] else None
    result = await conn.execute(
        text(
            f"UPDATE workspaces SET {assignments}{', ' if names else ''}revision = revision + 1 "  # noqa: S608
            "WHERE id = :id RETURNING credit_line_tokens"
        ),
        {"id": workspace_id, **values},
    )
    row = result.first()
    if row is None:
        return False
    if "credit_line_tokens" in names:
        # The check constraint refuses a credit line below what the workspace already owes.
        await conn.execute(
            text("UPDATE ledger_accounts SET floor = :floor WHERE id = :id"),
            {"floor": -row.credit_line_tokens, "id": domain.account_id(workspace_id, AccountKind.AVAILABLE)},
        )
    return True


def _assignment(name: str) -> str:
    return f"{name} = CAST(:{name} AS jsonb)" if name == "guardrails" else f"{name} = :{name}"


async def set_suspended(conn: AsyncConnection, workspace_id: str, *, suspended: bool) -> bool:
    result = await conn.execute(
        text(
            "UPDATE workspaces SET suspended_at = CASE WHEN :suspended THEN coalesce(suspended_at, now()) END, "
            "revision = revision + 1 WHERE id = :id RETURNING id"
        ),
        {"id": workspace_id, "suspended": suspended},
    )
    return result.first() is not None
