"""Sync callers beside a draining batch: wrk at c=16 on the sync route with no batch running, then while one drains.

The issue's target: the p99 of sync requests with a batch draining is at most 1.5 times their p99 without one. The
cells are run in alternated pairs (no batch, a batch draining, no batch, ...) and judged on the median of the pairs'
ratios, every pair reported: one pair's p99 rests on its slowest 15-20 requests, and single pairs measured on this
machine the same hour ranged from 0.9 to 1.8. Both cells of a pair run in the same bench run, on the same services,
from a workspace of their own (so the batch's billing check counts batch jobs only), each after the same warm-up of
sync calls; the drain cell starts once the batch's first result is in and must end before its last
(`batch_draining_throughout`), else the figure measured sync calls beside an idle pipeline and is flagged. The
batch's own rate during the drain cell is recorded beside it: while sync calls run, batches get only their shared
cap (ledger/batch_feeder.py). The batch is cancelled after its cell, so the next pair's idle cell has none.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from bench import wrk
from bench.runner import seed_body

SYNC_CONCURRENCY = 16
SYNC_P99_RATIO_MAX = 1.5


@dataclass(frozen=True)
class SyncLoad:
    wrk_path: str
    url: str
    api_key: str
    model: str
    duration_s: float
    warmup_s: float

    def load(self, duration_s: float) -> wrk.Load:
        return wrk.Load(
            url=self.url,
            body=seed_body(self.model),
            authorization=f"Bearer {self.api_key}",
            connections=SYNC_CONCURRENCY,
            duration_s=duration_s,
        )

    async def warm_up(self) -> None:
        if self.warmup_s > 0:
            await wrk.run(self.wrk_path, self.load(self.warmup_s))

    async def cell(self) -> dict[str, Any]:
        result = await wrk.run(self.wrk_path, self.load(self.duration_s))
        return {"concurrency": SYNC_CONCURRENCY, **result.as_json()}


def summarise(idle: dict[str, Any], draining: dict[str, Any], *, draining_throughout: bool) -> dict[str, Any]:
    p99_idle = idle["latency_ms"]["p99"]
    p99_draining = draining["latency_ms"]["p99"]
    ratio = round(p99_draining / p99_idle, 2) if p99_idle else None
    return {
        "p99_ms_idle": p99_idle,
        "p99_ms_draining": p99_draining,
        "p50_ms_idle": idle["latency_ms"]["p50"],
        "p50_ms_draining": draining["latency_ms"]["p50"],
        "ratio": ratio,
        "target": SYNC_P99_RATIO_MAX,
        "batch_draining_throughout": draining_throughout,
        "errors": idle["errors"] + draining["errors"],
        "met": ratio is not None
        and ratio <= SYNC_P99_RATIO_MAX
        and draining_throughout
        and idle["errors"] + draining["errors"] == 0,
    }


def summarise_pairs(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """The pairs' verdict: the median ratio (and p99s) over the pairs, each pair's ratio, and the worst one."""
    ratios = [pair["ratio"] for pair in pairs if pair["ratio"] is not None]
    ratio = round(statistics.median(ratios), 2) if ratios else None
    throughout = all(pair["batch_draining_throughout"] for pair in pairs)
    errors = sum(pair["errors"] for pair in pairs)
    return {
        "pairs": len(pairs),
        "ratio": ratio,
        "ratios": ratios,
        "ratio_worst": max(ratios) if ratios else None,
        "p99_ms_idle": statistics.median(pair["p99_ms_idle"] for pair in pairs),
        "p99_ms_draining": statistics.median(pair["p99_ms_draining"] for pair in pairs),
        "p50_ms_idle": statistics.median(pair["p50_ms_idle"] for pair in pairs),
        "p50_ms_draining": statistics.median(pair["p50_ms_draining"] for pair in pairs),
        "target": SYNC_P99_RATIO_MAX,
        "batch_draining_throughout": throughout,
        "errors": errors,
        "met": ratio is not None and ratio <= SYNC_P99_RATIO_MAX and throughout and errors == 0,
    }
