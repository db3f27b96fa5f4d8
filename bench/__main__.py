"""``python -m bench [sync]``: the sync path through the full stack vs straight to the fake provider.
``python -m bench profile``: py-spy of ingress, ledger and workers under load, CPU per request per stage.
``python -m bench stream``: streamed completions: time to first token vs the fake's own, billed streams/s at c=64.
``python -m bench ledger``: the ledger alone on PostgreSQL: settlements per second, statement export rate and memory.
``python -m bench console``: the console's first render per page in Chromium on a 100k-entry ledger, and screenshots.
``python -m bench batch``: batches end to end: ingest lines/s, billed jobs/s, time to first result, peak RSS.
``python -m bench batch-stage``: a batch's ingest, feed and settlement in-process: CPU per line and per job.
``python -m bench batch-starved``: a feeder tick while a batch waits for credit, and a top-up's time to its next line.
``python -m bench peers``: the same wrk load on the fake provider, our pipeline and LiteLLM proxy (make bench-peers).
``python -m bench hops``: a sync request's time at c=1 hop by hop, from the services' own metrics.
``python -m bench cluster``: saturated billed req/s of the cluster profile beside the dev stack, alternated.
``python -m bench stage``: the ledger's admission and settlement per job: statements, round trips, CPU.
``python -m bench edge``: CPU per request and per stream of each service, idle CPU, hops (on given Kafka/PostgreSQL).
``python -m bench idle``: CPU and wake-ups per second of each idle service (on given Kafka/PostgreSQL).
``python -m bench provider-call``: a worker's provider call in-process against the fake: CPU us per call.
``python -m bench webhook-delay``: a job's webhook from its settlement to the receiver, p50/p99 (given services).

Starts the dev stack when it is not up (``python -m stack up``) and stops afterwards only what it started.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench import machine, profiling, report, stackctl, wrk
from bench.runner import Bench, Settings
from bench.workspace import BillingProbe, final_check


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", choices=("sync", "profile", "ledger"), default="sync")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per cell (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before each cell (default 2)")
    parser.add_argument(
        "--concurrency",
        type=_ints,
        default=(1, 16, 64, 256),
        help="wrk connections, comma separated (default 1,16,64,256; profile: 64)",
    )
    parser.add_argument(
        "--latency",
        type=_ints,
        default=(0, 50),
        help="fake provider latency in ms, comma separated (default 0,50; profile: 0)",
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--pin-cpu", type=int, default=None, help="run wrk under taskset on this CPU")
    parser.add_argument(
        "--name", default=None, help="results file bench/results/<name>.json (default sync_pipeline or profile)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["stream"]:
        from bench import streaming

        return streaming.main(argv[1:])
    if argv[:1] == ["ledger"]:
        from bench import ledger_bench

        return ledger_bench.main(argv[1:])
    if argv[:1] == ["console"]:
        from bench import console

        return console.main(argv[1:])
    if argv[:1] == ["batch"]:
        from bench import batch_bench

        return batch_bench.main(argv[1:])
    if argv[:1] == ["hops"]:
        from bench import hops

        return hops.main(argv[1:])
    if argv[:1] == ["cluster"]:
        from bench import cluster

        return cluster.main(argv[1:])
    if argv[:1] == ["batch-stage"]:
        from bench import batch_stage

        return batch_stage.main(argv[1:])
    if argv[:1] == ["batch-starved"]:
        from bench import batch_starved

        return batch_starved.main(argv[1:])
    if argv[:1] == ["peers"]:
        from bench import peers

        return peers.main(argv[1:])
    if argv[:1] == ["edge"]:
        from bench import edge

        return edge.main(argv[1:])
    if argv[:1] == ["idle"]:
        from bench import idle

        return idle.main(argv[1:])
    if argv[:1] == ["provider-call"]:
        from bench import provider_call

        return provider_call.main(argv[1:])
    if argv[:1] == ["webhook-delay"]:
        from bench import webhook_delay

        return webhook_delay.main(argv[1:])
    if argv[:1] == ["stage"]:
        from bench import ledger_stage

        return ledger_stage.main(argv[1:])
    arguments = _parser().parse_args(argv)
    arguments.command = " ".join(["python -m bench", *argv])
    try:
        return asyncio.run(_main(arguments))
    except (stackctl.StackUnavailableError, wrk.WrkError, profiling.ProfilerError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1


async def _main(arguments: argparse.Namespace) -> int:
    profile = arguments.mode == "profile"
    settings = Settings(
        duration_s=arguments.duration,
        warmup_s=arguments.warmup,
        concurrencies=arguments.concurrency if not profile or arguments.concurrency != (1, 16, 64, 256) else (64,),
        latencies_ms=arguments.latency if not profile or arguments.latency != (0, 50) else (0,),
        threads=arguments.threads,
        pin_cpu=arguments.pin_cpu,
    )
    wrk_path = wrk.ensure_wrk()
    py_spy = profiling.ensure_py_spy() if profile else None
    load_before = machine.load_average()
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    session = stackctl.bring_up()
    probe = BillingProbe(session.database_url)
    try:
        workspace = await probe.create()
        bench = Bench(settings, session, probe, workspace, wrk_path)
        document: dict[str, Any] = {
            "bench": "profile" if profile else "sync_pipeline",
            "timestamp": started_at,
            "command": arguments.command,
            "git": machine.git_info(),
            "machine": {**machine.machine_info(), "load_average_before": load_before},
            "wrk": {
                "version": wrk.version(wrk_path),
                "threads": settings.threads,
                "pin_cpu": settings.pin_cpu,
                "timeout_s": wrk.REQUEST_TIMEOUT_S,
                "script": "bench/post.lua",
            },
            "settings": {
                "duration_s": settings.duration_s,
                "warmup_s": settings.warmup_s,
                "concurrencies": list(settings.concurrencies),
                "fake_latencies_ms": list(settings.latencies_ms),
                "stack_started_by_bench": session.started,
            },
            "workspace": workspace.workspace_id,
        }
        document["idle_cpu"] = await bench.idle_baseline()
        if py_spy is not None:
            cells, document["profiles"] = await profiling.profile(bench, py_spy)
        else:
            cells = await bench.run_all()
        final = await probe.settle(workspace.workspace_id)
        run_checks = [cell["billing"] for cell in cells if "billing" in cell]
        document["billing"] = final_check(
            final, bench.pipeline_ok_total, bench.pipeline_in_flight_allowance, run_checks
        )
        document["machine"]["load_average_after"] = machine.load_average()
        document["runs"] = cells
        summary = report.summarise(cells)
        document["summary"] = summary
    finally:
        await probe.close()
        stackctl.restore(session)
    path = report.write(arguments.name or ("profile" if profile else "sync_pipeline"), document)
    print()
    print(report.table(cells, summary))
    billing = document["billing"]
    print(
        f"\nbilling: {billing['workspace_completed_jobs']} completed jobs, "
        f"{billing['ok_responses_counted_by_wrk']} 200s counted by wrk; spent {billing['spent_tokens']} tokens "
        f"= sum(input+output) {billing['sum_input_plus_output_tokens']}: "
        f"{'exact' if billing['billing_exact'] else 'NOT EXACT'}"
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
