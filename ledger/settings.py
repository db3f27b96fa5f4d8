"""Settings of the ledger service."""

from __future__ import annotations

from pydantic import Field

from ledger.batch_feeder import FeedPolicy
from ledger.finance_settings import FinanceSettings


class LedgerSettings(FinanceSettings):
    ledger_app_id: str = "luntrex-ledger"
    db_pool_size: int = Field(default=8, ge=1, le=100)
    # The most events settled in one database transaction. It is also the number of agent actors per topic:
    # each holds one delivered event, so a batch is whatever arrived while the previous one ran, up to this.
    ledger_batch_max: int = Field(default=256, ge=1, le=2000)
    # A job's deadline when its submission carries none: still queued after this long, it is expired and its
    # hold released (nothing is lost or held forever).
    job_deadline_s: float = Field(default=1800.0, ge=1, le=7 * 86_400)
    # Every ledger instance runs the sweep on this interval; a PostgreSQL advisory lock lets one at a time in.
    expiry_sweep_interval_s: float = Field(default=30.0, gt=0, le=3600)
    expiry_sweep_max: int = Field(default=1000, ge=1, le=100_000)
    # A ledger that dies silently loses its partitions to a live one after this long.
    ledger_session_timeout_s: float = Field(default=10.0, ge=6, le=300)
    # How long one publish may wait for the broker before it counts as a (transient) failure and is retried.
    ledger_publish_timeout_s: float = Field(default=30.0, ge=1, le=1200)
    # How often the finance tick retries due auto top-ups and publishes the finance outbox to `finance.events`.
    finance_tick_interval_s: float = Field(default=1.0, gt=0, le=3600)

    # Batches (ledger/batch_feeder.py): how often the feeder releases lines while batches run (and how often an
    # idle feeder looks for new ones), how many batch jobs may be held and unsettled per pool at once (and while
    # interactive jobs are about: in flight, or admitted here within the window), how many lines one tick
    # releases, and the round-robin share of each workspace per round. A held job never dispatched (a feeder
    # that died mid-tick) is dispatched again after the grace.
    batch_feed_interval_s: float = Field(default=0.05, gt=0, le=60)
    batch_feed_idle_interval_s: float = Field(default=0.2, gt=0, le=60)
    batch_in_flight_max: int = Field(default=512, ge=1, le=100_000)
    batch_in_flight_shared_max: int = Field(default=64, ge=1, le=100_000)
    batch_shared_jobs_per_s: float = Field(default=50.0, gt=0, le=1_000_000)
    # Batch jobs' usage waits up to this long for half a settlement batch (`ledger_batch_max` / 2) to gather.
    batch_settlement_linger_s: float = Field(default=0.05, ge=0, le=5)
    batch_interactive_window_s: float = Field(default=1.0, ge=0, le=60)
    batch_release_max: int = Field(default=2000, ge=1, le=100_000)
    batch_feed_quantum: int = Field(default=64, ge=1, le=100_000)
    batch_redispatch_grace_s: float = Field(default=30.0, ge=1, le=86_400)
    # A batch waiting for a spend cap is tried again at least this often (settlements free the part of running
    # jobs' holds they did not cost, an administrator may raise the cap); one waiting for credit at least this
    # often even when its workspace's credit has not grown enough for the hold it ran short of (a new price may
    # have made that hold smaller): the longest such a change goes unnoticed, each recheck one read of the
    # batch's lines.
    batch_cap_recheck_s: float = Field(default=1.0, gt=0, le=86_400)
    batch_credit_recheck_s: float = Field(default=5.0, gt=0, le=86_400)
    # Finished batches' lines and their jobs' answers are kept this long (the money records stay forever).
    result_retention_days: float = Field(default=30.0, gt=0, le=3650)
    result_prune_interval_s: float = Field(default=3600.0, gt=0, le=86_400)
    result_prune_batches_max: int = Field(default=100, ge=1, le=10_000)

    def batch_feed_policy(self) -> FeedPolicy:
        return FeedPolicy(
            in_flight_max=self.batch_in_flight_max,
            release_max=self.batch_release_max,
            quantum=self.batch_feed_quantum,
            redispatch_grace_s=self.batch_redispatch_grace_s,
            in_flight_shared_max=min(self.batch_in_flight_shared_max, self.batch_in_flight_max),
            adopt_every_s=self.batch_feed_idle_interval_s,
            shared_jobs_per_s=self.batch_shared_jobs_per_s,
            cap_recheck_s=self.batch_cap_recheck_s,
            credit_recheck_s=self.batch_credit_recheck_s,
        )
