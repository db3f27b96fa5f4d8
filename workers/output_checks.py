"""Output guardrails (the workspace's and the calling key's, carried with the job) applied to an answer before it
is published: deny rules withhold it, redaction rewrites it.

An answer a deny rule matches ends the job `failed` with `guardrail_blocked` naming the rule; the answer is
dropped here, so it never reaches Kafka, the book or the caller, and the job is not charged (the provider's
cost for it is the operator's). Redacted answers are billed as the provider counted them.
"""

from __future__ import annotations

from functools import lru_cache

from runtime.guardrails import GuardrailEngine
from schemas.errors import ErrorCode
from schemas.events import JobError, UsageRecorded
from schemas.guardrails import OutputChecks

# Jobs of one workspace carry the same checks: compile them once, not per answer.
ENGINES_CACHED_MAX = 256


@lru_cache(maxsize=ENGINES_CACHED_MAX)
def _engine(checks: OutputChecks) -> GuardrailEngine:
    return GuardrailEngine(checks.deny, checks.redact)


def apply(usage: UsageRecorded, checks: OutputChecks | None) -> UsageRecorded:
    """The usage to publish: unchanged, with its answer redacted, or failed because a rule matched."""
    if checks is None or usage.outcome != "completed" or not usage.answer:
        return usage
    engine = _engine(checks)
    rule = engine.blocking_rule([usage.answer])
    if rule is not None:
        error = JobError(
            code=ErrorCode.GUARDRAIL_BLOCKED,
            message=f"the answer was withheld by the guardrail '{rule}'; nothing was charged",
        )
        return usage.model_copy(update={"outcome": "failed", "answer": None, "finish_reason": None, "error": error})
    redacted = engine.redact(usage.answer)
    if not redacted.counts:
        return usage
    return usage.model_copy(update={"answer": redacted.text})
