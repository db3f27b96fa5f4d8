"""Pure rules about what a key may do: scopes, its own limits, and that no key can widen its own power.

No I/O here: the routes load keys and call these rules, the tests call them directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from schemas.errors import ErrorCode, Forbidden

if TYPE_CHECKING:
    from ingress.guardrail_check import CompiledGuardrails

SCOPES = ("inference", "billing", "manage")
ALL_SCOPES = frozenset(SCOPES)
DEFAULT_SCOPES = frozenset({"inference"})

LIVE_PREFIX = "lx_live_"
LEGACY_PREFIX = "lx_"
KEY_LENGTH_MAX = 200
KEY_ID = re.compile(r"[0-9a-f]{12}")

# The limits of a key, compared field by field; None means "no limit of its own".
LIMIT_FIELDS = ("max_tokens_max", "rpm_max", "tpm_max", "daily_spend_max_tokens", "monthly_spend_max_tokens")


@dataclass(frozen=True, slots=True)
class KeyPower:
    """Everything a key is allowed: its scopes, when it stops, which models and how much."""

    scopes: frozenset[str]
    expires_at: datetime | None = None
    allowed_models: frozenset[str] | None = None
    max_tokens_max: int | None = None
    rpm_max: int | None = None
    tpm_max: int | None = None
    daily_spend_max_tokens: int | None = None
    monthly_spend_max_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key, the workspace it is scoped to, and what the key may do."""

    key_id: str
    workspace_id: str
    default_model: str | None
    power: KeyPower = KeyPower(scopes=ALL_SCOPES)
    # Replaced by a rotation: it still calls models until its grace window ends, but manages nothing.
    rotated: bool = False
    # The workspace's guardrails, compiled (ingress/guardrail_check.py); None when it has none.
    guardrails: CompiledGuardrails | None = None
    # The key's own guardrails, applied with the workspace's; None when it has none.
    key_guardrails: CompiledGuardrails | None = None

    def guardrail_sets(self) -> tuple[CompiledGuardrails, ...]:
        """Every set of guardrails that applies to this key's requests, the workspace's first."""
        if self.key_guardrails is None:
            return () if self.guardrails is None else (self.guardrails,)
        return (self.key_guardrails,) if self.guardrails is None else (self.guardrails, self.key_guardrails)


def key_id_of(secret: str) -> str | None:
    """The key id inside a presented secret (`lx_live_<id>_…`, or the older `lx_<id>_…`); None if malformed."""
    if len(secret) > KEY_LENGTH_MAX:
        return None
    if secret.startswith(LIVE_PREFIX):
        rest = secret[len(LIVE_PREFIX) :]
    elif secret.startswith(LEGACY_PREFIX):
        rest = secret[len(LEGACY_PREFIX) :]
    else:
        return None
    key_id, sep, tail = rest.partition("_")
    if not sep or not tail or KEY_ID.fullmatch(key_id) is None:
        return None
    return key_id


def require_scope(principal: Principal, scope: str) -> None:
    if scope not in principal.power.scopes:
        have = ", ".join(sorted(principal.power.scopes)) or "none"
        raise Forbidden(
            f"this key lacks the '{scope}' scope (it has: {have}); use a key with '{scope}'",
            code=ErrorCode.INSUFFICIENT_SCOPE,
        )


def require_manager(principal: Principal) -> None:
    """Managing keys needs `manage` and a key that is not in its rotation grace window."""
    require_scope(principal, "manage")
    if principal.rotated:
        raise Forbidden(
            "this key was rotated out: it works for calls until its grace window ends, but manages nothing",
            code=ErrorCode.KEY_RESTRICTED,
        )


def inherit(requested: KeyPower, parent: KeyPower, fields_set: Iterable[str]) -> KeyPower:
    """The power of a new key: what was asked for, and the parent's own value for anything not asked."""
    named = set(fields_set)
    values = {field: getattr(parent, field) for field in ("expires_at", "allowed_models", *LIMIT_FIELDS)}
    return replace(requested, **{field: value for field, value in values.items() if field not in named})


def widening(child: KeyPower, parent: KeyPower) -> str | None:
    """Why `child` would have more power than `parent`, or None when it has at most as much."""
    extra = child.scopes - parent.scopes
    if extra:
        return f"scopes {sorted(extra)} that the minting key does not have"
    if parent.expires_at is not None and (child.expires_at is None or child.expires_at > parent.expires_at):
        return f"an expiry later than the minting key's ({parent.expires_at.isoformat()})"
    if parent.allowed_models is not None and (
        child.allowed_models is None or not child.allowed_models <= parent.allowed_models
    ):
        return "models the minting key may not use"
    for field in LIMIT_FIELDS:
        mine, theirs = getattr(parent, field), getattr(child, field)
        if mine is not None and (theirs is None or theirs > mine):
            return f"a looser {field} than the minting key's ({mine})"
    return None


def refuse_widening(child: KeyPower, parent: KeyPower) -> None:
    refuse(widening(child, parent))


def refuse(reason: str | None) -> None:
    """403 `key_restricted` naming what a new key would gain over the key that makes it, if anything."""
    if reason is not None:
        raise Forbidden(
            f"a key cannot create a key with more power than its own: {reason}", code=ErrorCode.KEY_RESTRICTED
        )


def allowed_route(principal: Principal, route: list[str]) -> list[str]:
    """The route this key may use: the requested model must be allowed; disallowed fallbacks are dropped."""
    allowed = principal.power.allowed_models
    if allowed is None:
        return route
    if route[0] not in allowed:
        raise Forbidden(
            f"this key may not use model '{route[0]}' (allowed: {', '.join(sorted(allowed))})",
            code=ErrorCode.KEY_RESTRICTED,
        )
    return [model for model in route if model in allowed]


def max_tokens_for(
    principal: Principal, requested: int | None, model_default: int, *, param: str = "max_tokens"
) -> int:
    """The request's max_tokens: the key's cap refuses more, and lowers the model's default to fit. `param`: the
    name the caller sent it under (OpenAI's `max_completion_tokens`), which the refusal names."""
    cap = principal.power.max_tokens_max
    if requested is None:
        return model_default if cap is None else min(model_default, cap)
    if cap is not None and requested > cap:
        raise Forbidden(f"'{param}': {requested} exceeds this key's limit of {cap}", code=ErrorCode.KEY_RESTRICTED)
    return requested
