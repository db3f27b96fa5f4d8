"""Mint, rotate and revoke keys for a workspace key's owner or the operator, and announce every change (a key's
guardrails change in `ingress.key_guardrails`).

A workspace key acts within its own power (`key_policy`); the operator (admin credential) is not limited by
a key. After each change commits, the key's new state goes out on `keys.changes`.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from ingress import guardrail_policy, key_policy, keys
from ingress.key_policy import DEFAULT_SCOPES, KeyPower, Principal
from ingress.key_requests import KeyAttributes, NewKey, Rotation
from ingress.services import Services
from schemas.errors import Conflict, ErrorCode, InvalidRequest, NotFound, ServiceUnavailable
from schemas.guardrails import Guardrails

log = logging.getLogger(__name__)

_ATTRIBUTE_TO_POWER = {"expires_in_s": "expires_at", "allowed_models": "allowed_models"} | {
    name: name for name in key_policy.LIMIT_FIELDS
}


def _requested(services: Services, attrs: KeyAttributes, base: KeyPower) -> KeyPower:
    """The power a request asks for: what it names, and `base`'s value for everything it does not."""
    named = {_ATTRIBUTE_TO_POWER[field] for field in attrs.model_fields_set if field in _ATTRIBUTE_TO_POWER}
    expires_at = None
    if attrs.expires_in_s is not None:
        expires_at = datetime.now(UTC) + timedelta(seconds=attrs.expires_in_s)
    allowed = frozenset(_model_ids(services, attrs.allowed_models)) if attrs.allowed_models is not None else None
    requested = KeyPower(
        scopes=frozenset(attrs.scopes) if attrs.scopes is not None else base.scopes,
        expires_at=expires_at,
        allowed_models=allowed,
        **{field: getattr(attrs, field) for field in key_policy.LIMIT_FIELDS},
    )
    return key_policy.inherit(requested, base, named)


def _model_ids(services: Services, names: list[str]) -> list[str]:
    ids = []
    for name in names:
        model = services.catalogue.resolve(name)
        if model is None:
            raise InvalidRequest(f"allowed_models: model '{name}' is not in the catalogue (GET /api/v1/models)")
        ids.append(model.id)
    return ids


def _guardrails(
    services: Services, attrs: KeyAttributes, inherited: Guardrails | None, caller: Principal | None, *, whose: str
) -> Guardrails | None:
    """The new key's guardrails. The operator's key gets what it names (else `inherited`); a key's gets
    `inherited` plus what it names, refused (403) if it names anything looser than `inherited` or if the sum
    would be looser than the calling key's own."""
    named = "guardrails" in attrs.model_fields_set
    requested = guardrail_policy.resolved(services.catalogue, attrs.guardrails) if named else None
    if caller is None:
        return requested if named else inherited
    key_policy.refuse(guardrail_policy.loosening(requested, inherited, named_only=True, whose=whose))
    try:
        child = guardrail_policy.combine(inherited, requested)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"] if exc.errors() else str(exc)
        raise InvalidRequest(f"guardrails, together with the inherited ones: {problem}") from exc
    own = caller.key_guardrails.config if caller.key_guardrails is not None else None
    key_policy.refuse(guardrail_policy.loosening(child, own, named_only=False, whose="the minting key's"))
    return child


def _stored(value: dict[str, Any] | None) -> Guardrails | None:
    return Guardrails.model_validate(value) if value else None


def _describe(row: keys.KeyRow, secret: str | None = None) -> dict[str, Any]:
    state = row.state
    body: dict[str, Any] = {
        "id": state.key_id,
        "workspace_id": state.workspace_id,
        "name": row.name,
        "scopes": sorted(state.scopes),
        "expires_at": state.expires_at.isoformat() if state.expires_at else None,
        "allowed_models": list(state.allowed_models) if state.allowed_models is not None else None,
        **{field: getattr(state, field) for field in key_policy.LIMIT_FIELDS},
        "guardrails": state.guardrails,
    }
    if secret is not None:
        # `key` is the original field; `api_key` is the name workspace creation uses for the same secret.
        body["key"] = body["api_key"] = secret
    return body


async def _announce(services: Services, row: keys.KeyRow) -> None:
    """Best effort for new keys: a replica that has not heard of a key reads it from the table anyway."""
    try:
        await services.keys.publish(row.state)
    except ServiceUnavailable:
        log.exception("announcing key %s failed; replicas read it from the table on first use", row.state.key_id)


async def mint(services: Services, workspace_id: str, new_key: NewKey, caller: Principal | None) -> dict[str, Any]:
    """Mint a key; a calling key's own values are the defaults and the ceiling of the new one's."""
    base = replace(caller.power, scopes=DEFAULT_SCOPES) if caller is not None else KeyPower(scopes=DEFAULT_SCOPES)
    power = _requested(services, new_key, base)
    if caller is not None:
        key_policy.refuse_widening(power, caller.power)
    own = caller.key_guardrails.config if caller is not None and caller.key_guardrails is not None else None
    guardrails = _guardrails(services, new_key, own, caller, whose="the minting key's")
    # What the parent imposes, which no workspace key may later remove: the minting key's own guardrails, or all
    # of what the operator gave.
    imposed = guardrail_policy.stored(guardrails if caller is None else own)
    async with services.engine.begin() as conn:
        if caller is not None:
            await keys.enforce_mint_rate(conn, workspace_id, per_hour_max=services.settings.key_mints_per_hour_max)
        row, secret = await keys.mint(
            conn, workspace_id, new_key.name, power, guardrail_policy.stored(guardrails), imposed
        )
    await _announce(services, row)
    return _describe(row, secret)


def existing_key_id(key_id: str) -> str:
    """Key ids are 12 hex digits; anything else (NUL, paths, huge strings) cannot name a key: 404 at once."""
    if key_policy.KEY_ID.fullmatch(key_id) is None:
        raise NotFound(f"no key {key_id[:64]!r}")
    return key_id


async def rotate(
    services: Services, key_id: str, rotation: Rotation, *, caller: Principal | None, workspace_id: str | None
) -> dict[str, Any]:
    """Mint a successor with the rotated key's attributes (narrowed as asked) and end the old one after grace."""
    key_id = existing_key_id(key_id)
    async with services.engine.begin() as conn:
        old = await keys.lock_key(conn, key_id, workspace_id)
        now = datetime.now(UTC)
        if old is not None and old.state.rotated_at is not None:
            raise Conflict(
                f"key '{key_id}' was already rotated; rotate its successor instead",
                code=ErrorCode.KEY_ALREADY_ROTATED,
            )
        if old is None or old.state.revoked_at is not None or (old.state.expires_at or now + timedelta(1)) <= now:
            raise NotFound(f"no live key '{key_id}'" + (" in this workspace" if workspace_id else ""))
        power = _requested(services, rotation, old.power)
        guardrails = _guardrails(services, rotation, _stored(old.state.guardrails), caller, whose="the rotated key's")
        if caller is not None:
            key_policy.refuse_widening(power, caller.power)
            await keys.enforce_mint_rate(
                conn, old.state.workspace_id, per_hour_max=services.settings.key_mints_per_hour_max
            )
        # The successor keeps the name (listings and usage by key keep their label) unless a new one is given.
        name = rotation.name or old.name
        # The successor keeps what was imposed on the key it replaces, unless the operator names a new set.
        operator_named = caller is None and "guardrails" in rotation.model_fields_set
        imposed = guardrail_policy.stored(guardrails) if operator_named else old.imposed
        new, secret = await keys.mint(
            conn, old.state.workspace_id, name, power, guardrail_policy.stored(guardrails), imposed
        )
        old = await keys.mark_rotated(conn, key_id, successor_id=new.state.key_id, grace_s=rotation.grace_s)
    await _announce(services, old)
    await _announce(services, new)
    return {**_describe(new, secret), "replaces": key_id, "old_key_valid_for_s": rotation.grace_s}


async def revoke(services: Services, key_id: str, *, workspace_id: str | None) -> None:
    """Revoke for good; the change must reach every replica, so a failed announcement is a 503 to retry."""
    key_id = existing_key_id(key_id)
    async with services.engine.begin() as conn:
        row = await keys.revoke(conn, key_id, workspace_id)
    if row is None:
        raise NotFound(f"no key '{key_id}'" + (" in this workspace" if workspace_id else ""))
    await services.keys.publish(row.state)
