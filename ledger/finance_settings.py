"""Settings of the ledger's finance side: payment retries, the local card's decline switch, drain sizes, webhooks."""

from __future__ import annotations

from pydantic import Field

from ledger.payments import CardSettings
from ledger.topups import Finance, TopupPolicy
from ledger.webhooks import WebhookPolicy
from runtime.settings import ServiceSettings


class FinanceSettings(ServiceSettings):
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

    # Webhook deliveries of finance events: delays before each retry (finite: then the delivery is `failed`),
    # the time one POST may take, how often the ledger's webhook timer runs and how many it takes a round.
    webhook_retry_delays_s: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0, 3600.0)
    webhook_timeout_s: float = Field(default=5.0, gt=0, le=60)
    webhook_tick_interval_s: float = Field(default=0.5, gt=0, le=3600)
    webhook_batch_max: int = Field(default=50, ge=1, le=1000)

    def webhook_policy(self) -> WebhookPolicy:
        return WebhookPolicy(
            retry_delays_s=self.webhook_retry_delays_s,
            timeout_s=self.webhook_timeout_s,
            batch_max=self.webhook_batch_max,
        )

    def finance(self) -> Finance:
        return Finance.local(
            CardSettings(decline_all=self.finance_card_decline_all),
            TopupPolicy(
                attempts_max=self.finance_topup_attempts_max,
                backoff_base_s=self.finance_topup_backoff_base_s,
                backoff_max_s=self.finance_topup_backoff_max_s,
            ),
        )
