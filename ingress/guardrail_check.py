"""A workspace's guardrails applied to a job at the door, before it is published or anything is held.

Allowed models, the prompt's size and the deny rules refuse the request (400 `guardrail_blocked` naming the
rule; nothing is charged because nothing reached the ledger). Redaction rewrites the prompt before it leaves:
the provider, Kafka and the book only ever see the redacted text, so the job is billed on what was sent, and
what was redacted (kinds and counts, never the values) is recorded on the job. The cost ceiling travels with
the job: the ledger refuses it, before holding anything, when its hold would exceed the ceiling.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from runtime.guardrails import GuardrailEngine
from schemas.errors import ErrorCode, InvalidRequest
from schemas.events import ChatJobSubmitted, PromptMessage
from schemas.guardrails import Guardrails, OutputChecks


@dataclass(frozen=True, slots=True)
class WorkspaceGuardrails:
    """A workspace's guardrails, parsed and compiled once per workspace revision."""

    config: Guardrails
    engine: GuardrailEngine

    @classmethod
    def from_json(cls, value: dict[str, Any] | None) -> WorkspaceGuardrails | None:
        if not value:
            return None
        config = Guardrails.model_validate(value)
        return cls(config, GuardrailEngine(config.deny, config.redact))


def blocked(rule: str, detail: str) -> InvalidRequest:
    return InvalidRequest(f"blocked by the workspace's guardrail '{rule}': {detail}", code=ErrorCode.GUARDRAIL_BLOCKED)


def apply(job: ChatJobSubmitted, rails: WorkspaceGuardrails | None) -> ChatJobSubmitted:
    """The job as it may go on: checked, its prompt redacted, its cost ceiling and output checks attached."""
    if rails is None:
        return job
    config = rails.config
    if config.check_output and job.params.stream:
        # A stream's deltas reach the caller before the whole answer exists to be checked.
        raise blocked("check_output", "answers are checked before delivery here, so streaming is not available")
    route = _allowed_route(job, config)
    contents = [message.content for message in job.params.messages]
    if config.max_prompt_chars is not None:
        size = sum(len(content) for content in contents)
        if size > config.max_prompt_chars:
            raise blocked("max_prompt_chars", f"the prompt has {size} characters, over {config.max_prompt_chars}")
    rule = rails.engine.blocking_rule(contents)
    if rule is not None:
        raise blocked(rule, "the prompt matches a deny rule")
    messages, counts = _redacted(job.params.messages, rails.engine)
    output = OutputChecks(deny=config.deny, redact=config.redact) if config.check_output else None
    params = job.params.model_copy(update={"messages": messages, "output_checks": output})
    return job.model_copy(
        update={
            "route": route,
            "params": params,
            "max_cost_tokens": config.max_cost_tokens_per_request,
            "guardrails": {"redacted": dict(sorted(counts.items()))} if counts else None,
        }
    )


def _allowed_route(job: ChatJobSubmitted, config: Guardrails) -> tuple[str, ...]:
    if config.allowed_models is None:
        return job.route
    allowed = set(config.allowed_models)
    if job.model_id not in allowed:
        raise blocked("allowed_models", f"model '{job.model_id}' is not one of the workspace's allowed models")
    # Fallbacks the workspace may not use are dropped, as a key's allowed models drop them.
    return tuple(model for model in job.route if model in allowed)


def _redacted(
    messages: tuple[PromptMessage, ...], engine: GuardrailEngine
) -> tuple[tuple[PromptMessage, ...], Counter[str]]:
    counts: Counter[str] = Counter()
    out: list[PromptMessage] = []
    for message in messages:
        result = engine.redact(message.content)
        counts.update(result.counts)
        out.append(message if result.text == message.content else message.model_copy(update={"content": result.text}))
    return (tuple(out) if counts else messages), counts
