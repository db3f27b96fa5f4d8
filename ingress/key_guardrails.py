"""Read and replace one key's own guardrails after it is minted, for a workspace's `manage` key or the operator.

A key's guardrails are checked like a workspace's (`schemas.guardrails`: RE2 must compile every pattern, none
may nest unbounded quantifiers, every list is bounded) and, when a workspace's key changes them, may never be
looser than what the key's parent imposed (the guardrails of the key that minted it, or the set the operator
gave it) nor than the calling key's own: otherwise a key could lift the rules it was given, its own included.
The operator is not limited by a key: what it sets becomes what is imposed on the key.

A change commits under the key's row lock, bumps its revision and goes out on `keys.changes`; the answer comes
once this replica has read it back, so it binds the key's very next request on every replica. A change that
could not be announced is a 503 to repeat (the same body is the same change).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ingress import guardrail_policy, keys
from ingress.key_policy import Principal
from ingress.key_service import existing_key_id
from ingress.services import Services
from schemas.errors import ErrorCode, Forbidden, NotFound
from schemas.guardrails import Guardrails

PARENT = "its parent's"
CALLER = "the calling key's"


def view(row: keys.KeyRow) -> dict[str, Any]:
    state = row.state
    return {
        "key_id": state.key_id,
        "workspace_id": state.workspace_id,
        "guardrails": state.guardrails,
        "imposed": row.imposed,
        "revision": state.revision,
    }


async def show(services: Services, key_id: str, *, workspace_id: str | None) -> dict[str, Any]:
    """A key's guardrails (revoked and expired keys included); another workspace's key is absent (404)."""
    key_id = existing_key_id(key_id)
    async with services.engine.connect() as conn:
        row = await keys.find_key(conn, key_id, workspace_id)
    if row is None:
        raise NotFound(f"no key '{key_id}'" + (" in this workspace" if workspace_id else ""))
    return view(row)


def _loosening(wanted: Guardrails | None, row: keys.KeyRow, caller: Principal) -> str | None:
    """Why a workspace key may not give `row` these guardrails, or None."""
    imposed = Guardrails.model_validate(row.imposed) if row.imposed else None
    reason = guardrail_policy.loosening(wanted, imposed, named_only=False, whose=PARENT)
    if reason is not None:
        return reason
    own = caller.key_guardrails.config if caller.key_guardrails is not None else None
    return guardrail_policy.loosening(wanted, own, named_only=False, whose=CALLER)


async def replace(
    services: Services,
    key_id: str,
    guardrails: Guardrails | None,
    *,
    caller: Principal | None,
    workspace_id: str | None,
) -> dict[str, Any]:
    """Replace a live key's guardrails with `guardrails` (None or an empty set removes them) and announce it."""
    key_id = existing_key_id(key_id)
    stored = guardrail_policy.stored(guardrail_policy.resolved(services.catalogue, guardrails))
    wanted = Guardrails.model_validate(stored) if stored else None
    async with services.engine.begin() as conn:
        row = await keys.lock_key(conn, key_id, workspace_id)
        expires_at = row.state.expires_at if row is not None else None
        if (
            row is None
            or row.state.revoked_at is not None
            or (expires_at is not None and expires_at <= datetime.now(UTC))
        ):
            raise NotFound(f"no live key '{key_id}'" + (" in this workspace" if workspace_id else ""))
        if caller is None:
            imposed = stored
        else:
            reason = _loosening(wanted, row, caller)
            if reason is not None:
                raise Forbidden(f"a key cannot loosen a key's guardrails: {reason}", code=ErrorCode.KEY_RESTRICTED)
            imposed = row.imposed
        row = await keys.set_guardrails(conn, key_id, stored, imposed)
    await services.keys.publish(row.state)
    return view(row)
