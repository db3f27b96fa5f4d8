"""Finance wire formats: the events the ledger publishes about money paid in and balances crossing thresholds.

Published on `finance.events`, keyed by workspace id, after the transaction that caused them commits (the
`finance_events` table is their outbox and history). `job_id` carries the top-up id where there is one.
"""

from __future__ import annotations

from typing import Literal

from schemas.events import Envelope

FINANCE_EVENTS = "finance.events"
FINANCE_PARTITIONS = 8


class TopupSucceeded(Envelope):
    """A top-up was paid (or invoiced) and its tokens credited."""

    type: Literal["topup.succeeded"] = "topup.succeeded"
    version: Literal[1] = 1
    topup_id: str
    origin: Literal["manual", "auto"]
    method: str
    amount_paisa: int
    tokens: int
    rate_version_id: int
    attempt: int
    balance_tokens: int


class TopupFailed(Envelope):
    """A payment attempt failed; `will_retry` says whether the ledger will try again (auto top-ups)."""

    type: Literal["topup.failed"] = "topup.failed"
    version: Literal[1] = 1
    topup_id: str
    origin: Literal["manual", "auto"]
    method: str
    amount_paisa: int
    attempt: int
    reason: str
    will_retry: bool
    next_attempt_at: str | None = None


class BalanceThresholdCrossed(Envelope):
    """The balance fell below a threshold (an alert, or the auto top-up's trigger) while it was armed."""

    type: Literal["balance.threshold_crossed"] = "balance.threshold_crossed"
    version: Literal[1] = 1
    threshold_id: int | None
    kind: Literal["absolute", "percent_of_last_topup", "auto_topup"]
    threshold_tokens: int
    balance_before_tokens: int
    balance_after_tokens: int


FinanceEvent = TopupSucceeded | TopupFailed | BalanceThresholdCrossed
