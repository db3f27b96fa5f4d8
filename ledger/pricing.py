"""Prices jobs with the catalogue's multipliers: the ledger's only use of the model catalogue."""

from __future__ import annotations

from ledger import domain
from schemas.catalogue import Catalogue
from schemas.events import ChatJobSubmitted, UsageRecorded


def hold_for(catalogue: Catalogue, job: ChatJobSubmitted) -> int:
    """The most this job can cost on any model of its route: the hold must cover a fallback too."""
    holds = []
    for model_id in job.route:
        model = catalogue.get(model_id)
        holds.append(
            domain.hold_tokens(job.input_tokens_estimate, job.params.max_tokens, model.input_price, model.output_price)
        )
    return max(holds)


def cost_of(catalogue: Catalogue, usage: UsageRecorded) -> int:
    """The priced cost of a completed job at the price of the model that answered."""
    if usage.outcome != "completed" or usage.model_id is None:
        return 0
    model = catalogue.get(usage.model_id)
    return domain.charge_tokens(usage.input_tokens, usage.output_tokens, model.input_price, model.output_price)
