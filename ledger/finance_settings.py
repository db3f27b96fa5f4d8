"""Settings of the ledger's finance side: payment retries, the local card's decline switch, drain sizes (and the
webhook settings, since finance commands register endpoints)."""

from __future__ import annotations

from pydantic import Field

from ledger.payments import CardSettings
from ledger.topups import Finance, TopupPolicy
from ledger.webhook_settings import WebhookSettings


class FinanceSettings(WebhookSettings):
    # Attempts at one auto top-up payment (the first included) before it ends `failed`.
    finance_topup_attempts_max: int = Field(default=5, ge=1, le=50)
    # Backoff before retry n is base * 2^(n-1) seconds, capped.
    finance_topup_backoff_base_s: float = Field(default=30.0, ge=0, le=86_400)
    finance_topup_backoff_max_s: float = Field(default=3_600.0, ge=0, le=7 * 86_400)
    # The local card processor declines every charge (drills and demos of failures).
    finance_card_decline_all: bool = False
    # The most due retries and unpublished finance events one timer tick takes.
    finance_retry_drain_max: int = Field(default=100, ge=1, le=10_000)
    finance_events_drain_max: int = Field(default=500, ge=1, le=10_000)

    def finance(self) -> Finance:
        return Finance.local(
            CardSettings(decline_all=self.finance_card_decline_all),
            TopupPolicy(
                attempts_max=self.finance_topup_attempts_max,
                backoff_base_s=self.finance_topup_backoff_base_s,
                backoff_max_s=self.finance_topup_backoff_max_s,
            ),
            self.network_policy(),
        )
