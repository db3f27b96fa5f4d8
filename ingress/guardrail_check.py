"""Guardrails applied to a job at the door, before it is published or anything is held: the workspace's, and
the calling key's own, both at once (the stricter wins).

Allowed models, the prompt's size and the deny rules refuse the request (400 `guardrail_blocked` naming the
rule and whose it is; nothing is charged because nothing reached the ledger). Every set's checks run on the
prompt as the caller sent it, every text of it the provider receives (ingress/prompt_texts.py): messages, tool
calls in the history, tool definitions, the response schema, image URLs. Then every set's redactions rewrite it
before it leaves (ingress/prompt_redaction.py): the provider, Kafka and the book only ever see the redacted
text, so the job is billed on what was sent, and what was redacted (kinds and counts, never the values) is
recorded on the job. The smallest cost ceiling travels with the job: the
ledger refuses it, before holding anything, when its hold would exceed it. When any set checks output, the
workers apply every set's deny rules and redactions to the answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ingress import prompt_redaction
from ingress.prompt_texts import PromptTexts, prompt_texts
from runtime.guardrails import GuardrailEngine
from schemas.errors import ErrorCode, InvalidRequest
from schemas.events import ChatJobSubmitted
from schemas.guardrails import Guardrails, OutputChecks

WORKSPACE = "the workspace's"
KEY = "this key's"


@dataclass(frozen=True, slots=True)
class CompiledGuardrails:
    """One set of guardrails (a workspace's or a key's), parsed and compiled once per revision of its owner."""

    config: Guardrails
    engine: GuardrailEngine
    # Whose they are, as a refusal names them: "the workspace's" or "this key's".
    whose: str = WORKSPACE

    @classmethod
    def from_json(cls, value: dict[str, Any] | None, *, whose: str = WORKSPACE) -> CompiledGuardrails | None:
        if not value:
            return None
        config = Guardrails.model_validate(value)
        return cls(config, GuardrailEngine(config.deny, config.redact), whose)


def blocked(rule: str, detail: str, whose: str = WORKSPACE) -> InvalidRequest:
    return InvalidRequest(f"blocked by {whose} guardrail '{rule}': {detail}", code=ErrorCode.GUARDRAIL_BLOCKED)


def apply(job: ChatJobSubmitted, sets: Sequence[CompiledGuardrails]) -> ChatJobSubmitted:
    """The job as it may go on: checked against every set, its prompt redacted, its ceiling and checks attached."""
    if not sets:
        return job
    route = job.route
    texts = prompt_texts(job.params)
    for rails in sets:
        route = _checked(job, rails, route, texts)
    messages, options, counts = job.params.messages, job.params.options, Counter[str]()
    for rails in sets:
        if rails.config.redact:
            messages, found = prompt_redaction.redacted_messages(messages, rails.engine)
            counts.update(found)
            options, found = prompt_redaction.redacted_options(options, rails.engine)
            counts.update(found)
    update = {"messages": messages, "options": options, "output_checks": _output_checks(sets)}
    params = job.params.model_copy(update=update)
    ceilings = [rails.config.max_cost_tokens_per_request for rails in sets]
    return job.model_copy(
        update={
            "route": route,
            "params": params,
            "max_cost_tokens": min((c for c in ceilings if c is not None), default=None),
            "guardrails": {"redacted": dict(sorted(counts.items()))} if counts else None,
        }
    )


def _checked(
    job: ChatJobSubmitted, rails: CompiledGuardrails, route: tuple[str, ...], texts: PromptTexts
) -> tuple[str, ...]:
    """One set's refusals, on the prompt as sent; returns the route without the fallbacks this set forbids."""
    config, whose = rails.config, rails.whose
    if config.allowed_models is not None:
        allowed = set(config.allowed_models)
        if job.model_id not in allowed:
            raise blocked("allowed_models", f"model '{job.model_id}' is not one of the allowed models", whose)
        # Fallbacks that may not be used are dropped, as a key's allowed models drop them.
        route = tuple(model for model in route if model in allowed)
    if config.max_prompt_chars is not None:
        size = texts.chars()
        if size > config.max_prompt_chars:
            raise blocked(
                "max_prompt_chars", f"the prompt has {size} characters, over {config.max_prompt_chars}", whose
            )
    rule = rails.engine.blocking_rule(texts.searched())
    if rule is not None:
        raise blocked(rule, "the prompt matches a deny rule", whose)
    return route


def _output_checks(sets: Sequence[CompiledGuardrails]) -> OutputChecks | None:
    """Every set's deny rules and redactions, once any set checks output (the stricter wins)."""
    if not any(rails.config.check_output for rails in sets):
        return None
    if len(sets) == 1:
        return OutputChecks(deny=sets[0].config.deny, redact=sets[0].config.redact)
    deny = tuple(rule for rails in sets for rule in rails.config.deny)
    redact = tuple(dict.fromkeys(kind for rails in sets for kind in rails.config.redact))
    return OutputChecks(deny=deny, redact=redact)
