"""Settings of webhook deliveries: the retry schedule, the attempt deadline, the dispatcher's concurrency,
polling and LISTEN connection, and where outbound calls may go (`LUNTREX_WEBHOOK_...`)."""

from __future__ import annotations

import ipaddress
import math

from pydantic import Field, field_validator

from ledger.webhook_delivery import WebhookPolicy
from ledger.webhook_network import NetworkPolicy
from runtime.settings import ServiceSettings

# Immediately, then 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h and 12 h: 11 attempts over 27.7 hours.
DEFAULT_RETRY_DELAYS_S = (5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 43200.0)
RETRIES_MAX = 30
RETRY_DELAY_MAX_S = 7 * 86_400.0


class WebhookSettings(ServiceSettings):
    # Delays before each retry (finite: after the last one the delivery is `dead`).
    webhook_retry_delays_s: tuple[float, ...] = DEFAULT_RETRY_DELAYS_S
    # One attempt, DNS resolution included, ends after this long (a receiver that never answers).
    webhook_timeout_s: float = Field(default=15.0, gt=0, le=60)
    # How often an idle dispatcher looks for due deliveries while its LISTEN connection is down (while it is up,
    # the writers' notifications wake it), and how many it claims at once.
    webhook_tick_interval_s: float = Field(default=0.25, gt=0, le=60)
    webhook_batch_max: int = Field(default=50, ge=1, le=1000)
    # The longest an idle, listening dispatcher waits without a notification before it looks again (sooner when
    # a retry or a lease falls due): the safety net for a notification that never came.
    webhook_tick_interval_max_s: float = Field(default=5.0, gt=0, le=300)
    # Delays between attempts to restore a lost LISTEN connection (doubling from the first to the last).
    webhook_listen_backoff_initial_s: float = Field(default=0.5, gt=0, le=60)
    webhook_listen_backoff_max_s: float = Field(default=30.0, gt=0, le=600)
    # Attempts in flight at once in one dispatcher process.
    webhook_concurrency_max: int = Field(default=32, ge=1, le=1024)
    # Attempts in flight to one endpoint: a slow or dead receiver holds at most this many of the slots.
    webhook_endpoint_concurrency_max: int = Field(default=4, ge=1, le=1024)
    # Attempts in flight for one workspace's endpoints together (a workspace may have 20): its slow or dead
    # receivers hold at most this many slots, and the claim serves the workspaces in turn.
    webhook_workspace_concurrency_max: int = Field(default=8, ge=1, le=1024)
    webhook_db_pool_size: int = Field(default=4, ge=1, le=50)
    # Outbound addresses: only global unicast ones, unless private networks are allowed (all of them) or the
    # address is in the allow-list (CIDRs such as "127.0.0.0/8"; `make up` and the tests allow loopback).
    webhook_allow_private_networks: bool = False
    webhook_allowed_networks: tuple[str, ...] = ()

    @field_validator("webhook_retry_delays_s")
    @classmethod
    def _finite_schedule(cls, delays: tuple[float, ...]) -> tuple[float, ...]:
        if len(delays) > RETRIES_MAX:
            raise ValueError(f"at most {RETRIES_MAX} retries")
        if any(not math.isfinite(d) or not 0 <= d <= RETRY_DELAY_MAX_S for d in delays):
            raise ValueError(f"each retry delay is 0-{RETRY_DELAY_MAX_S:g} seconds")
        return delays

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, networks: tuple[str, ...]) -> tuple[str, ...]:
        for network in networks:
            ipaddress.ip_network(network, strict=False)
        return networks

    def webhook_policy(self) -> WebhookPolicy:
        return WebhookPolicy(
            retry_delays_s=self.webhook_retry_delays_s,
            timeout_s=self.webhook_timeout_s,
            batch_max=self.webhook_batch_max,
        )

    def network_policy(self) -> NetworkPolicy:
        return NetworkPolicy(
            allow_private=self.webhook_allow_private_networks,
            allowed_networks=tuple(ipaddress.ip_network(n, strict=False) for n in self.webhook_allowed_networks),
        )
