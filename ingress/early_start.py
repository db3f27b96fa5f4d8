"""Which jobs ingress sends an early start for (workers/early_start.py explains what one is).

An early start lets the worker call the provider while the ledger is still holding the job's credit, so the
admission's 12-15 ms (c=1, 2 cores) overlap the provider's own time instead of adding to it. Nothing reaches the
caller before the hold commits. What it risks is the gateway's own money: a job the ledger then refuses (no
credit, a rate limit or spend cap) has had a provider call that nobody pays for. So an early start is sent only
when refusal is unlikely and the machine has time to spare:
- the workspace's balance, as the last result this replica delivered for it said, covers `margin` times the
  job's hold at catalogue prices (less what this replica has early-started for it since), and that result is
  at most `fresh_s` old;
- the workspace had no refused job (`rejected`: credit, limits, guardrails) in the last `quiet_after_refusal_s`;
- this replica has at most `in_flight_max` callers waiting: under load the pipeline's latency is queueing, and an
  early start's extra record costs throughput the queue needs more (`python -m bench` measures both).
The answer travels with the job (`ChatJobSubmitted.early_start`, set by ingress/flow.py `with_early_start` before
the job is encoded). A streamed job's early deltas wait in ingress for the ledger's held notice (which every stream
gets, ledger/admission.py `held_notice`).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from schemas import topics
from schemas.catalogue import Catalogue
from schemas.events import ChatJobSubmitted
from schemas.results import JobResult


@dataclass(slots=True)
class _Seen:
    balance_left: int
    seen_at: float  # monotonic
    refused_at: float  # monotonic; -inf when never


class EarlyStartGate:
    def __init__(
        self,
        catalogue: Catalogue,
        *,
        enabled: bool,
        margin: int,
        fresh_s: float,
        quiet_after_refusal_s: float,
        in_flight_max: int,
        workspaces_max: int,
    ) -> None:
        self._catalogue = catalogue
        self._enabled = enabled
        self._margin = margin
        self._fresh_s = fresh_s
        self._quiet_s = quiet_after_refusal_s
        self._in_flight_max = in_flight_max
        self._workspaces_max = workspaces_max
        self._seen: OrderedDict[str, _Seen] = OrderedDict()

    def observe(self, workspace_id: str, result: JobResult) -> None:
        """A result this replica delivered: the workspace's balance after it, and whether it was refused."""
        if not self._enabled:
            return
        now = time.monotonic()
        seen = self._seen.pop(workspace_id, None)
        refused_at = now if result.status == "rejected" else (seen.refused_at if seen else -math.inf)
        self._seen[workspace_id] = _Seen(result.balance_left, now, refused_at)
        if len(self._seen) > self._workspaces_max:
            self._seen.popitem(last=False)

    def allows(self, job: ChatJobSubmitted, in_flight: int) -> bool:
        """Whether to send this job an early start; counts its hold against the balance seen, if so."""
        if not self._enabled or job.lane != "interactive" or in_flight > self._in_flight_max:
            return False
        seen = self._seen.get(job.workspace_id)
        if seen is None:
            return False
        now = time.monotonic()
        if now - seen.seen_at > self._fresh_s or now - seen.refused_at < self._quiet_s:
            return False
        hold = self._hold_estimate(job)
        if hold is None or seen.balance_left < self._margin * hold:
            return False
        # Until the next result says otherwise, this job may spend its hold: a burst of early starts cannot all
        # lean on one balance.
        seen.balance_left -= hold
        return True

    def give_back(self, job: ChatJobSubmitted) -> None:
        """A job `allows` let through that is never sent (its Idempotency-Key names an earlier job, which answers
        instead): its hold no longer counts against the balance seen, or every replay would lower the workspace's
        allowance until its next result."""
        if not job.early_start:
            return
        seen = self._seen.get(job.workspace_id)
        hold = self._hold_estimate(job)
        if seen is not None and hold is not None:
            seen.balance_left += hold

    def topic_of(self, job: ChatJobSubmitted, prefix: str) -> str | None:
        """The dispatch topic the ledger will send this job to (its model's pool, interactive lane)."""
        model = self._catalogue.resolve(job.model_id)
        if model is None:
            return None
        return topics.prefixed(prefix, topics.dispatch_topic(model.pool, topics.Lane.INTERACTIVE))

    def _hold_estimate(self, job: ChatJobSubmitted) -> int | None:
        """The job's hold at catalogue prices (the ledger's price book may differ; the margin covers it)."""
        holds = []
        for name in job.route or (job.model_id,):
            model = self._catalogue.resolve(name)
            if model is None:
                return None
            cost = job.input_tokens_estimate * model.input_price + job.params.output_tokens_bound() * model.output_price
            holds.append(math.ceil(cost))
        return max(holds)
