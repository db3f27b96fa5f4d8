"""Pure rules about guardrail settings: how they are stored, how two sets add up (the stricter wins) and what
would loosen a set.

A key minted or rotated by another key inherits guardrails and may only add to them, as it may only narrow its
other attributes (`key_policy`): deny rules and redactions accumulate, allowed models intersect, the smaller
ceiling holds, and output checks stay on once on. No I/O here; `key_service` applies these rules.
"""

from __future__ import annotations

from typing import Any

from schemas.catalogue import Catalogue
from schemas.errors import ErrorCode, NotFound
from schemas.guardrails import Guardrails

CEILINGS = ("max_cost_tokens_per_request", "max_prompt_chars")


def resolved(catalogue: Catalogue, guardrails: Guardrails | None) -> Guardrails | None:
    """Guardrails with their allowed models named by catalogue ids (aliases resolved, repeats dropped); an unknown
    model is refused when configured (404 `model_not_found`) rather than silently never matching."""
    if guardrails is None or guardrails.allowed_models is None:
        return guardrails
    ids = []
    for name in guardrails.allowed_models:
        model = catalogue.resolve(name)
        if model is None:
            raise NotFound(
                f"guardrail allowed_models: model '{name}' is not in the catalogue", code=ErrorCode.MODEL_NOT_FOUND
            )
        ids.append(model.id)
    return guardrails.model_copy(update={"allowed_models": tuple(dict.fromkeys(ids))})


def stored(guardrails: Guardrails | None) -> dict[str, Any] | None:
    """Guardrails as the tables store them and the change topics carry them: only what is set; none is None."""
    if guardrails is None:
        return None
    return guardrails.model_dump(mode="json", exclude_defaults=True) or None


def combine(inherited: Guardrails | None, added: Guardrails | None) -> Guardrails | None:
    """Both sets at once: every rule and redaction of each, the models both allow, the smaller ceilings.

    Validated again, so the sum obeys the same bounds as any set (at most `RULES_MAX` deny rules): a
    `ValidationError` (a `ValueError`) says what it breaks. A rule of the same name in both must be the same rule
    (`loosening` refuses a different one first); it is kept once.
    """
    if inherited is None or added is None:
        return inherited if added is None else added
    rules = {rule.name: rule for rule in (*inherited.deny, *added.deny)}
    models = inherited.allowed_models
    if added.allowed_models is not None:
        mine = added.allowed_models
        models = mine if models is None else tuple(model for model in models if model in mine)
    values = {
        "allowed_models": models,
        **{field: _smaller(getattr(inherited, field), getattr(added, field)) for field in CEILINGS},
        "deny": tuple(rules.values()),
        "redact": tuple(dict.fromkeys((*inherited.redact, *added.redact))),
        "check_output": inherited.check_output or added.check_output,
    }
    return Guardrails.model_validate({name: value for name, value in values.items() if value is not None})


def _smaller(first: int | None, second: int | None) -> int | None:
    if first is None or second is None:
        return first if second is None else second
    return min(first, second)


def loosening(child: Guardrails | None, parent: Guardrails | None, *, named_only: bool, whose: str) -> str | None:
    """Why `child` would be looser than `parent`, or None.

    With `named_only`, `child` is what a request names, to be added to `parent`: only what it names can loosen
    (a larger ceiling, models outside the parent's, `check_output: false`, another rule under a parent rule's
    name). Otherwise `child` is a whole set that must hold every rule of `parent` at least as strictly.
    """
    if parent is None:
        return None
    if child is None:
        return None if named_only else f"no guardrails, while {whose} guardrails are set"
    named = child.model_fields_set if named_only else set(Guardrails.model_fields)
    if parent.allowed_models is not None and "allowed_models" in named and not _within(child, parent):
        return f"guardrail allowed_models: models {whose} guardrails do not allow"
    for field in CEILINGS:
        mine, theirs = getattr(parent, field), getattr(child, field)
        if mine is not None and field in named and (theirs is None or theirs > mine):
            return f"a looser guardrail {field} than {whose} ({mine})"
    if parent.check_output and "check_output" in named and not child.check_output:
        return f"guardrail check_output off, where {whose} is on"
    rules = {rule.name: rule for rule in child.deny}
    for rule in parent.deny:
        theirs = rules.get(rule.name)
        if theirs is not None and theirs != rule:
            return f"a deny rule '{rule.name}' other than {whose} rule of that name"
        if theirs is None and not named_only:
            return f"no deny rule '{rule.name}', which {whose} guardrails have"
    missing = set(parent.redact) - set(child.redact)
    if missing and not named_only:
        return f"no redaction of {', '.join(sorted(missing))}, which {whose} guardrails have"
    return None


def _within(child: Guardrails, parent: Guardrails) -> bool:
    """Whether `child` allows only models `parent` allows (`parent` has a list)."""
    assert parent.allowed_models is not None
    return child.allowed_models is not None and set(child.allowed_models) <= set(parent.allowed_models)
