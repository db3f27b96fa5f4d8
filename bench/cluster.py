"""``python -m bench cluster``: saturated billed req/s of the cluster profile beside the single-node dev stack.

Both stacks run at once (`python -m stack up` and `python -m stack up --profile cluster`; each is started only
if it is not up, and stopped afterwards only if the bench started it), and their cells alternate, dev then
cluster at each concurrency, for `--rounds` rounds: both pay the other's idle CPU and the machine's drift alike,
so the ratio is the figure to read. Each cell is wrk with the API page's seed request at the fake's 0 ms, a
billing check per cell and a final one per workspace, as `python -m bench` does. The cluster profile writes
every record to two of three brokers (acks=all, min.insync.replicas 2) and runs two of each service; on a
small machine expect it to be slower, not faster.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench import fake, machine, procstat, report, stackctl, wrk
from bench.runner import PIPELINE, Bench, Settings
from bench.workspace import BillingProbe, final_check
from stack.profiles import CLUSTER, DEV, Profile

PROFILES = (DEV, CLUSTER)


def _part(name: str) -> str:
    """`ledger-2` -> `ledger`, `kafka-3` -> `kafka`: a cluster's replicas count as one part."""
    base, _, number = name.rpartition("-")
    return base if base and number.isdigit() else name


def cpu_by_part(profile: Profile) -> dict[str, float]:
    totals: dict[str, float] = {}
    for name, seconds in procstat.cpu_by_part(stackctl.service_pids(profile)).items():
        totals[_part(name)] = totals.get(_part(name), 0.0) + seconds
    return totals


class ProfileBench:
    """One profile's stack, workspace and `Bench` (its cells, billing checks and CPU by part)."""

    def __init__(self, profile: Profile, settings: Settings, wrk_path: str) -> None:
        self.profile = profile
        self.settings = settings
        self.wrk_path = wrk_path
        self.session: stackctl.StackSession | None = None
        self.probe: BillingProbe | None = None
        self.bench: Bench | None = None

    async def start(self) -> None:
        self.session = stackctl.bring_up(self.profile)
        self.probe = BillingProbe(self.session.database_url)
        workspace = await self.probe.create()
        fake.set_latency(self.session.fake_provider_url, 0)
        self.bench = Bench(
            self.settings,
            self.session,
            self.probe,
            workspace,
            self.wrk_path,
            cpu_by_part=lambda: cpu_by_part(self.profile),
        )

    async def cell(self, connections: int) -> dict[str, Any]:
        assert self.bench is not None
        cell = await self.bench.run_cell(self.bench.targets[PIPELINE], 0, connections)
        return {"profile": self.profile.name, **cell}

    async def final(self, runs: list[dict[str, Any]]) -> dict[str, Any]:
        assert self.bench is not None and self.probe is not None
        snapshot = await self.probe.settle(self.bench.workspace.workspace_id)
        return final_check(
            snapshot,
            self.bench.pipeline_ok_total,
            self.bench.pipeline_in_flight_allowance,
            [run["billing"] for run in runs],
        )

    async def close(self) -> None:
        if self.session is not None:
            fake.reset(self.session.fake_provider_url)
        if self.probe is not None:
            await self.probe.close()
        if self.session is not None:
            stackctl.restore(self.session)


def summarise(cells: list[dict[str, Any]], concurrencies: Sequence[int]) -> list[dict[str, Any]]:
    """Per concurrency: each profile's median billed req/s and p50/p99 over the rounds, and cluster / dev."""
    rows = []
    for connections in concurrencies:
        row: dict[str, Any] = {"concurrency": connections}
        for profile in PROFILES:
            mine = [c for c in cells if c["profile"] == profile.name and c["concurrency"] == connections]
            row[profile.name] = {
                "billed_requests_per_s": round(statistics.median(c["billed_requests_per_s"] for c in mine), 1),
                "p50_ms": round(statistics.median(c["latency_ms"]["p50"] for c in mine), 2),
                "p99_ms": round(statistics.median(c["latency_ms"]["p99"] for c in mine), 2),
                "rounds": [c["billed_requests_per_s"] for c in mine],
            }
        dev_rate = row[DEV.name]["billed_requests_per_s"]
        row["cluster_over_dev"] = round(row[CLUSTER.name]["billed_requests_per_s"] / dev_rate, 2) if dev_rate else None
        rows.append(row)
    return rows


async def run(arguments: argparse.Namespace) -> dict[str, Any]:
    settings = Settings(
        duration_s=arguments.duration,
        warmup_s=arguments.warmup,
        concurrencies=arguments.concurrency,
        latencies_ms=(0,),
        threads=1,
        pin_cpu=None,
        targets=(PIPELINE,),
    )
    wrk_path = wrk.ensure_wrk()
    stacks = [ProfileBench(profile, settings, wrk_path) for profile in PROFILES]
    try:
        for stack in stacks:
            await stack.start()
        idle = {}
        for stack in stacks:
            assert stack.bench is not None
            idle[stack.profile.name] = await stack.bench.idle_baseline()
        cells: list[dict[str, Any]] = []
        for round_number in range(1, arguments.rounds + 1):
            for connections in arguments.concurrency:
                for stack in stacks:
                    cell = await stack.cell(connections)
                    cell["round"] = round_number
                    print(
                        f"bench cluster: round {round_number} {stack.profile.name:<7} c={connections:<3} "
                        f"{cell['billed_requests_per_s']:>7.1f} billed req/s  p50 {cell['latency_ms']['p50']:8.2f} ms  "
                        f"p99 {cell['latency_ms']['p99']:8.2f} ms  errors {cell['errors']}",
                        flush=True,
                    )
                    cells.append(cell)
        billing = {
            stack.profile.name: await stack.final([c for c in cells if c["profile"] == stack.profile.name])
            for stack in stacks
        }
    finally:
        for stack in reversed(stacks):
            await stack.close()
    return {
        "idle_cores_by_part": idle,
        "cells": cells,
        "summary": summarise(cells, arguments.concurrency),
        "billing": billing,
        "billing_exact": all(check["billing_exact"] for check in billing.values()),
    }


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(prog="python -m bench cluster", description=__doc__.splitlines()[0])
    result.add_argument("--concurrency", type=_ints, default=(64, 256), help="wrk connections (default 64,256)")
    result.add_argument("--duration", type=float, default=10.0, help="seconds measured per cell (default 10)")
    result.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before each cell")
    result.add_argument("--rounds", type=int, default=2, help="alternated rounds (default 2)")
    result.add_argument("--name", default="cluster", help="results file bench/results/<name>.json")
    return result


def main(argv: Sequence[str]) -> int:
    arguments = parser().parse_args(argv)
    command = "python -m bench cluster " + " ".join(argv)
    try:
        result = asyncio.run(run(arguments))
    except (stackctl.StackUnavailableError, wrk.WrkError) as error:
        print(f"bench cluster: {error}", file=sys.stderr)
        return 1
    document = {
        "bench": "cluster",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": command.strip(),
        "git": machine.git_info(),
        "machine": {**machine.machine_info(), "load_average_after": machine.load_average()},
        **result,
    }
    for row in document["summary"]:
        print(
            f"c={row['concurrency']}: dev {row['dev']['billed_requests_per_s']} billed req/s, cluster "
            f"{row['cluster']['billed_requests_per_s']} (cluster/dev {row['cluster_over_dev']})"
        )
    print(f"billing exact: {document['billing_exact']}")
    print(f"wrote {report.write(arguments.name, document)}")
    return 0 if document["billing_exact"] else 1
