"""How a workspace's and a key's guardrails add up, and that a key can only ever tighten the ones it inherits."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ingress.guardrail_check import KEY, CompiledGuardrails, apply
from ingress.guardrail_policy import combine, loosening
from schemas.errors import InvalidRequest
from schemas.events import ChatJobSubmitted, ChatParameters, PromptMessage
from schemas.guardrails import RULES_MAX, Guardrails

PARENT = Guardrails.model_validate(
    {
        "allowed_models": ["openai/gpt-4.1-mini", "test/cheap"],
        "max_cost_tokens_per_request": 1_000,
        "max_prompt_chars": 500,
        "deny": [{"name": "codename", "keywords": ["Falcon"]}],
        "redact": ["email"],
        "check_output": True,
    }
)


def rails(value: dict[str, Any], whose: str = "the workspace's") -> CompiledGuardrails:
    compiled = CompiledGuardrails.from_json(value, whose=whose)
    assert compiled is not None
    return compiled


def job(content: str, *, model: str = "openai/gpt-4.1-mini", route: tuple[str, ...] = ()) -> ChatJobSubmitted:
    return ChatJobSubmitted(
        workspace_id="ws_test",
        job_id="job_test",
        api_key_id="0123456789ab",
        model_id=model,
        route=route or (model,),
        input_tokens_estimate=10,
        params=ChatParameters(messages=(PromptMessage(role="user", content=content),), max_tokens=16),
    )


def test_two_sets_add_up_with_the_stricter_winning() -> None:
    added = Guardrails.model_validate(
        {
            "allowed_models": ["test/cheap"],
            "max_prompt_chars": 100,
            "deny": [{"name": "ssn", "pattern": r"\d{3}-\d{2}-\d{4}"}],
            "redact": ["card", "email"],
        }
    )
    both = combine(PARENT, added)
    assert both is not None
    assert both.allowed_models == ("test/cheap",)
    assert (both.max_cost_tokens_per_request, both.max_prompt_chars) == (1_000, 100)
    assert [rule.name for rule in both.deny] == ["codename", "ssn"]
    assert both.redact == ("email", "card")
    assert both.check_output
    assert combine(None, added) is added and combine(PARENT, None) is PARENT


def test_the_sum_obeys_the_bounds_of_any_one_set() -> None:
    many = Guardrails.model_validate({"deny": [{"name": f"mine{i}", "pattern": "x"} for i in range(RULES_MAX)]})
    with pytest.raises(ValidationError):
        combine(PARENT, many)


@pytest.mark.parametrize(
    ("named", "reason"),
    [
        ({"max_prompt_chars": 501}, "max_prompt_chars"),
        ({"max_prompt_chars": None}, "max_prompt_chars"),
        ({"max_cost_tokens_per_request": 5_000}, "max_cost_tokens_per_request"),
        ({"allowed_models": ["openai/gpt-4.1-mini", "test/priced"]}, "allowed_models"),
        ({"check_output": False}, "check_output"),
        ({"deny": [{"name": "codename", "keywords": ["Eagle"]}]}, "'codename'"),
    ],
)
def test_a_request_naming_anything_looser_than_it_inherits_is_refused(named: dict[str, Any], reason: str) -> None:
    found = loosening(Guardrails.model_validate(named), PARENT, named_only=True, whose="the minting key's")
    assert found is not None and reason in found


def test_what_a_request_does_not_name_is_inherited_not_loosened() -> None:
    adds = Guardrails.model_validate({"deny": [{"name": "codename", "keywords": ["Falcon"]}], "max_prompt_chars": 10})
    assert loosening(adds, PARENT, named_only=True, whose="the minting key's") is None
    assert loosening(None, PARENT, named_only=True, whose="the minting key's") is None
    assert loosening(combine(PARENT, adds), PARENT, named_only=False, whose="the minting key's") is None


@pytest.mark.parametrize(
    ("whole", "reason"),
    [
        (None, "no guardrails"),
        ({"deny": [{"name": "other", "pattern": "x"}]}, "allowed_models"),
        ({**PARENT.model_dump(exclude_defaults=True, mode="json"), "deny": []}, "'codename'"),
        ({**PARENT.model_dump(exclude_defaults=True, mode="json"), "redact": []}, "email"),
    ],
)
def test_a_whole_set_must_hold_every_rule_of_the_minting_key(whole: dict[str, Any] | None, reason: str) -> None:
    child = Guardrails.model_validate(whole) if whole is not None else None
    found = loosening(child, PARENT, named_only=False, whose="the minting key's")
    assert found is not None and reason in found


def test_both_sets_refuse_and_the_refusal_says_whose_rule_it_is() -> None:
    workspace = rails({"deny": [{"name": "codename", "keywords": ["Falcon"]}]})
    key = rails({"deny": [{"name": "ssn", "pattern": r"\d{3}-\d{2}-\d{4}"}]}, KEY)
    with pytest.raises(InvalidRequest, match="the workspace's guardrail 'codename'"):
        apply(job("Falcon status"), (workspace, key))
    with pytest.raises(InvalidRequest, match="this key's guardrail 'ssn'"):
        apply(job("ssn 078-05-1120"), (workspace, key))
    assert apply(job("all fine"), (workspace, key)).params.messages[0].content == "all fine"


def test_redactions_union_models_intersect_and_the_smaller_ceiling_travels() -> None:
    workspace = rails({"redact": ["email"], "allowed_models": ["openai/gpt-4.1-mini", "test/cheap"]})
    key = rails({"redact": ["card"], "max_cost_tokens_per_request": 70, "check_output": True}, KEY)
    checked = apply(
        job("a@example.com 4111 1111 1111 1111", route=("openai/gpt-4.1-mini", "test/priced", "test/cheap")),
        (workspace, key),
    )
    assert checked.params.messages[0].content == "[REDACTED:email] [REDACTED:card]"
    assert checked.guardrails == {"redacted": {"card": 1, "email": 1}}
    assert checked.route == ("openai/gpt-4.1-mini", "test/cheap")
    assert checked.max_cost_tokens == 70
    # The key checks output: the answer then meets every rule and redaction of both sets.
    assert checked.params.output_checks is not None
    assert checked.params.output_checks.redact == ("email", "card")
    with pytest.raises(InvalidRequest, match="this key's guardrail 'allowed_models'"):
        apply(
            job("hi", model="test/priced"),
            (rails({"max_prompt_chars": 99}), rails({"allowed_models": ["test/cheap"]}, KEY)),
        )


def test_a_prompt_is_checked_as_sent_before_any_set_redacts_it() -> None:
    """The workspace redacts e-mails; the key's rule on e-mail addresses still sees the address."""
    workspace = rails({"redact": ["email"]})
    key = rails({"deny": [{"name": "competitor-mail", "pattern": "@rival\\.com"}]}, KEY)
    with pytest.raises(InvalidRequest, match="'competitor-mail'"):
        apply(job("write to bob@rival.com"), (workspace, key))
