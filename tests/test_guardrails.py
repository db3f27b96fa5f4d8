"""Guardrail rules on their own: what a configuration may contain, and what the engine matches and redacts."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from runtime.guardrails import GuardrailEngine, luhn_valid
from schemas.guardrails import DenyRule, Guardrails, pattern_problem


@pytest.mark.parametrize("pattern", ["(a+)+b", "(a*)*", "((x+))*y", "(a|b+)+c", r"(\d{2,})+"])
def test_catastrophic_patterns_are_refused_when_configured(pattern: str) -> None:
    with pytest.raises(ValidationError, match="nested unbounded quantifiers"):
        Guardrails.model_validate({"deny": [{"name": "bad", "pattern": pattern}]})


@pytest.mark.parametrize("pattern", ["(?<=x)y", r"(a)\1", "[", "a{2,1}", "(?P<n"])
def test_patterns_re2_cannot_run_are_refused_with_the_reason(pattern: str) -> None:
    with pytest.raises(ValidationError, match="not a valid RE2 pattern"):
        Guardrails.model_validate({"deny": [{"name": "bad", "pattern": pattern}]})


@pytest.mark.parametrize(
    "config",
    [
        {"deny": [{"name": "both", "pattern": "x", "keywords": ["y"]}]},
        {"deny": [{"name": "neither"}]},
        {"deny": [{"name": "bad name!", "pattern": "x"}]},
        {"deny": [{"name": "nul", "keywords": ["a\x00b"]}]},
        {"deny": [{"name": "same", "pattern": "x"}, {"name": "same", "pattern": "y"}]},
        {"deny": [{"name": f"r{i}", "pattern": "x"} for i in range(51)]},
        {"deny": [{"name": "long", "pattern": "x" * 1001}]},
        {"max_cost_tokens_per_request": 0},
        {"max_cost_tokens_per_request": 10**16},
        {"max_prompt_chars": "100"},
        {"redact": ["ssn"]},
        {"allowed_models": []},
        {"unknown_setting": True},
    ],
)
def test_bad_configurations_are_refused(config: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Guardrails.model_validate(config)


def test_sound_patterns_are_accepted() -> None:
    for pattern in [r"\b\d{3}-\d{2}-\d{4}\b", "(ab)+c", "(a|b)*c", "secret[-_ ]?project"]:
        assert pattern_problem(pattern) is None


def test_keywords_match_whole_words_without_regard_to_case() -> None:
    engine = GuardrailEngine([DenyRule(name="codename", keywords=("Project Falcon", "c++"))], ())
    assert engine.blocking_rule(["what is PROJECT FALCON?"]) == "codename"
    assert engine.blocking_rule(["I write C++ daily"]) == "codename"  # regex characters are literal
    assert engine.blocking_rule(["projects falconry"]) is None


def test_a_case_sensitive_rule_respects_case() -> None:
    engine = GuardrailEngine([DenyRule(name="id", pattern="ACME-[0-9]+", case_sensitive=True)], ())
    assert engine.blocking_rule(["ticket ACME-42"]) == "id"
    assert engine.blocking_rule(["ticket acme-42"]) is None


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("5500005555555559")
    assert not luhn_valid("4111111111111112")


def test_redaction_replaces_emails_phones_and_luhn_valid_cards_only() -> None:
    engine = GuardrailEngine((), ("email", "phone", "card"))
    text = (
        "mail a.b+c@example.co.uk, call +1 415-555-0132 or (020) 7946 0958; card 4111 1111 1111 1111, "
        "not a card 4111111111111112, order 20261202, in 2026, costs 1500"
    )
    redacted = engine.redact(text)
    assert redacted.text == (
        "mail [REDACTED:email], call [REDACTED:phone] or [REDACTED:phone]; card [REDACTED:card], "
        "not a card 4111111111111112, order 20261202, in 2026, costs 1500"
    )
    assert dict(redacted.counts) == {"email": 1, "phone": 2, "card": 1}


def test_only_the_configured_kinds_are_redacted() -> None:
    redacted = GuardrailEngine((), ("email",)).redact("x@example.com, 4111 1111 1111 1111")
    assert redacted.text == "[REDACTED:email], 4111 1111 1111 1111"


def test_hostile_texts_are_checked_in_bounded_time() -> None:
    """RE2 is linear: inputs that make backtracking engines explode take as long as any text of their size."""
    rules = [DenyRule(name=f"r{i}", pattern=rf"(a|aa){{1,50}}b{i}") for i in range(20)]
    engine = GuardrailEngine(rules, ("email", "phone", "card"))
    hostile = "a" * 200_000
    started = time.process_time()
    assert engine.blocking_rule([hostile]) is None
    engine.redact("1-" * 50_000 + "@" * 50_000)
    # Generous: a backtracking engine would need longer than the age of the universe here.
    assert time.process_time() - started < 30
