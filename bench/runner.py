"""The sync-path benchmark: every (fake latency, concurrency) cell, direct to the fake then through the pipeline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import fake, procstat, wrk
from bench.stackctl import StackSession, service_pids
from bench.workspace import BenchWorkspace, BillingProbe, Snapshot, run_check

PIPELINE = "pipeline"
DIRECT = "direct"
TARGETS = (DIRECT, PIPELINE)
PROMPT = "Write a short rhyming poem about the ocean."
MAX_TOKENS = 512
PIPELINE_MODEL = "openai/gpt-4.1-mini"
UPSTREAM_MODEL = "gpt-4.1-mini"
FAKE_OPENAI_PATH = "/openai/v1/chat/completions"
# Any key the fake provider accepts (it refuses only keys starting with "invalid").
FAKE_AUTHORIZATION = "Bearer x"
IDLE_WINDOW_S = 3.0


def seed_body(model: str) -> str:
    """The API page's seed request, byte for byte as a client would send it."""
    return f'{{"model":"{model}","messages":[{{"role":"user","content":"{PROMPT}"}}],"max_tokens":{MAX_TOKENS}}}'


@dataclass(frozen=True)
class Settings:
    duration_s: float
    warmup_s: float
    concurrencies: tuple[int, ...]
    latencies_ms: tuple[int, ...]
    threads: int
    pin_cpu: int | None
    targets: tuple[str, ...] = TARGETS


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    body: str
    authorization: str


def targets(session: StackSession, workspace: BenchWorkspace) -> dict[str, Target]:
    return {
        PIPELINE: Target(
            PIPELINE, f"{session.base_url}/chat/completions", seed_body(PIPELINE_MODEL), f"Bearer {workspace.api_key}"
        ),
        DIRECT: Target(
            DIRECT, f"{session.fake_provider_url}{FAKE_OPENAI_PATH}", seed_body(UPSTREAM_MODEL), FAKE_AUTHORIZATION
        ),
    }


class Bench:
    """Runs the cells and keeps what the billing check needs across them."""

    def __init__(
        self,
        settings: Settings,
        session: StackSession | Any,
        probe: BillingProbe,
        workspace: BenchWorkspace,
        wrk_path: str,
        cpu_by_part: Callable[[], dict[str, float]] | None = None,
    ) -> None:
        self.settings = settings
        # CPU seconds so far by part: the dev stack's processes unless the session runs its own (bench/adhoc.py).
        self.cpu_by_part = cpu_by_part or (lambda: procstat.cpu_by_part(service_pids()))
        self.session = session
        self.probe = probe
        self.workspace = workspace
        self.wrk_path = wrk_path
        self.targets = targets(session, workspace)
        # Every 200 the pipeline answered, warm-ups included: the workspace's completed jobs must cover them,
        # and may exceed them by the requests in flight when each wrk run stopped (its connections).
        self.pipeline_ok_total = 0
        self.pipeline_in_flight_allowance = 0

    def _load(self, target: Target, connections: int, duration_s: float) -> wrk.Load:
        return wrk.Load(
            url=target.url,
            body=target.body,
            authorization=target.authorization,
            connections=connections,
            duration_s=duration_s,
            threads=self.settings.threads,
            pin_cpu=self.settings.pin_cpu,
        )

    async def run_all(self) -> list[dict[str, Any]]:
        cells: list[dict[str, Any]] = []
        try:
            for latency_ms in self.settings.latencies_ms:
                fake.set_latency(self.session.fake_provider_url, latency_ms)
                for connections in self.settings.concurrencies:
                    for name in self.settings.targets:
                        cell = await self.run_cell(self.targets[name], latency_ms, connections)
                        print(_progress(cell), flush=True)
                        cells.append(cell)
        finally:
            fake.reset(self.session.fake_provider_url)
        return cells

    async def idle_baseline(self, seconds: float = IDLE_WINDOW_S) -> dict[str, Any]:
        """CPU each part burns with no load at all (polling, timers): the fixed cost under every figure."""
        before = self.cpu_by_part()
        machine_before = procstat.machine_times()
        started = time.monotonic()
        await asyncio.sleep(seconds)
        window_s = time.monotonic() - started
        after = self.cpu_by_part()
        machine_after = procstat.machine_times()
        busy_s = machine_after.busy_s - machine_before.busy_s
        ours = {name: after[name] - before.get(name, 0.0) for name in after}
        return {
            "window_s": round(window_s, 3),
            "cores_by_part": {name: round(seconds_used / window_s, 3) for name, seconds_used in ours.items()},
            "other_processes_cores": round((busy_s - sum(ours.values())) / window_s, 3),
        }

    async def warm_up(self, target: Target, connections: int) -> None:
        if self.settings.warmup_s > 0:
            warm = await wrk.run(self.wrk_path, self._load(target, connections, self.settings.warmup_s))
            if target.name == PIPELINE:
                self.pipeline_ok_total += warm.ok
                self.pipeline_in_flight_allowance += connections

    async def run_cell(
        self, target: Target, latency_ms: int, connections: int, *, warm_up: bool = True
    ) -> dict[str, Any]:
        """Warm up, then measure one load: wrk's figures, the billing check and CPU per part per request."""
        pipeline = target.name == PIPELINE
        if warm_up:
            await self.warm_up(target, connections)
        before: Snapshot | None = await self.probe.settle(self.workspace.workspace_id) if pipeline else None
        cpu_before = self.cpu_by_part()
        machine_before = procstat.machine_times()
        started = time.monotonic()
        result = await wrk.run(self.wrk_path, self._load(target, connections, self.settings.duration_s))
        after = await self.probe.settle(self.workspace.workspace_id) if pipeline else None
        window_s = time.monotonic() - started
        cpu_after = self.cpu_by_part()
        machine_after = procstat.machine_times()
        cell: dict[str, Any] = {
            "target": target.name,
            "fake_latency_ms": latency_ms,
            "concurrency": connections,
            **result.as_json(),
        }
        completed = result.ok
        if before is not None and after is not None:
            self.pipeline_ok_total += result.ok
            self.pipeline_in_flight_allowance += connections
            billing = run_check(before, after, result.ok, connections)
            cell["billing"] = billing
            completed = billing["billed_requests"]
            cell["billed_requests_per_s"] = round(min(result.ok, completed) / result.duration_s, 1)
        cpu_s = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
        busy_s = machine_after.busy_s - machine_before.busy_s
        cell["cpu"] = {
            "window_s": round(window_s, 3),
            "requests_completed": completed,
            "machine_busy_pct": round(100 * busy_s / max(machine_after.total_s - machine_before.total_s, 1e-9), 1),
            "other_processes_cpu_s": round(busy_s - sum(cpu_s.values()) - result.wrk_cpu_s, 2),
            "by_part": {
                name: {
                    "cpu_s": round(seconds, 3),
                    "ms_per_request": round(1000 * seconds / completed, 3) if completed else None,
                    "cores": round(seconds / window_s, 2),
                }
                for name, seconds in {**cpu_s, "wrk": result.wrk_cpu_s}.items()
            },
        }
        return cell


def _progress(cell: dict[str, Any]) -> str:
    return (
        f"bench: {cell['target']:<8} fake {cell['fake_latency_ms']:>3} ms  c={cell['concurrency']:<3} "
        f"{cell['requests_per_s']:>9.1f} req/s  p50 {cell['latency_ms']['p50']:8.2f} ms  "
        f"p99 {cell['latency_ms']['p99']:8.2f} ms  errors {cell['errors']}"
    )
