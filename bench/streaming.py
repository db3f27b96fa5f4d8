"""``python -m bench stream``: streamed completions: time to first token against the fake's own, billed streams/s.

Cells, measured in one run so they compare with each other on a shared machine:
- **ttft c=1**: `--requests` streams one after another straight to the fake provider's OpenAI stream, and as many
  through the pipeline's OpenAI surface (`/api/v1/openai/chat/completions`, `stream_options.include_usage`), the
  two taking turns request by request so that both see the same machine, after `--warmup` streams each that are
  reported apart (a freshly started stack runs its first few dozen streams slower).
  Time to first token is from sending the request to receiving the first chunk with content; the overhead is
  pipeline p50 - direct p50 (target <= 10 ms).
- **unstreamed c=1**: the same request without `stream` through the pipeline, for the sync path's latency in the
  same run (a stream's first token pays the same admission before it).
- **throughput c=64**: `--concurrency` clients stream back to back for `--duration` seconds through the pipeline,
  and straight to the fake; a stream counts once its usage chunk and `[DONE]` arrived. Afterwards the ledger must
  have billed exactly those streams: completed jobs = streams counted, spent = the sum of the costs they reported.
The fake paces its pieces `--chunk-ms` apart (one word each), so a stream has a first token and a last one.
The client is Python (httpx) on the same machine; its CPU is part of the figures, the same for both targets.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import httpx

from bench import machine, report, stats
from bench.workspace import BenchWorkspace, BillingProbe

PROMPT = "Write a short rhyming poem about the ocean."
UPSTREAM_MODEL = "gpt-4.1-mini"
MODEL = "openai/gpt-4.1-mini"


def _body(model: str, chunk_ms: int, max_tokens: int) -> dict[str, Any]:
    directive = f" [fake stream_chunk_ms={chunk_ms}]" if chunk_ms else ""
    return {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT + directive}],
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def one_stream(client: httpx.AsyncClient, url: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    """Stream once: time to first content chunk and to the end (ms), and the cost the usage chunk reported."""
    started = time.perf_counter()
    first_ms: float | None = None
    cost: int | None = None
    done = False
    async with client.stream("POST", url, json=body, headers={"authorization": f"Bearer {key}"}) as response:
        if response.status_code != 200:
            return {"status": response.status_code, "error": (await response.aread())[:200].decode(errors="replace")}
        last = ""
        async for line in response.aiter_lines():
            last = line or last
            if first_ms is None and '"content":"' in line and '"content":""' not in line:
                first_ms = (time.perf_counter() - started) * 1000
            elif line.startswith("data: [DONE]"):
                done = True
            elif '"choices":[]' in line and '"cost":' in line:
                cost = int(line.rsplit('"cost":', 1)[1].split(",", 1)[0].split("}", 1)[0])
    return {
        "status": 200,
        "ttft_ms": first_ms,
        "total_ms": (time.perf_counter() - started) * 1000,
        "done": done,
        "cost": cost,
        **({} if done else {"error": f"ended without [DONE]; last line: {last[:200]}"}),
    }


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None}
    return {
        "p50": round(statistics.median(values), 3),
        "p90": round(stats.percentile(values, 0.9, rule="upper"), 3),
        "p99": round(stats.percentile(values, 0.99, rule="upper"), 3),
    }


def _quarters(values: list[float]) -> list[float]:
    size = max(1, len(values) // 4)
    return [round(statistics.median(values[i : i + size]), 3) for i in range(0, size * 4, size) if values[i : i + size]]


async def ttft_cells(
    targets: dict[str, tuple[str, str, dict[str, Any]]], requests: int, warmup: int
) -> dict[str, dict[str, Any]]:
    """`requests` streams per target at c=1, the targets taking turns request by request: each target's p50 is
    then measured over the same seconds of this shared, drifting machine (one cell after the other, a minute of
    drift between them moved the overhead by a few ms).

    `warmup` streams per target, taking turns the same way, come first and are reported apart: on a stack a minute
    old the first quarter of 200 measured streams ran 2-3 ms slower than the rest (the broker's JIT and the
    services' connections and caches warming), which is the stack's start, not its steady state."""
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    warming: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    async with httpx.AsyncClient(timeout=60) as client:
        for _ in range(warmup):
            for name, (url, key, body) in targets.items():
                warming[name].append(await one_stream(client, url, key, body))
        for _ in range(requests):
            for name, (url, key, body) in targets.items():
                results[name].append(await one_stream(client, url, key, body))
    return {
        name: {
            "requests": requests,
            "errors": sum(1 for r in done if r["status"] != 200 or not r.get("done")),
            "ttft_ms": _percentiles([r["ttft_ms"] for r in done if r.get("ttft_ms") is not None]),
            "total_ms": _percentiles([r["total_ms"] for r in done if "total_ms" in r]),
            # The p50 of each successive quarter of the run: whether the stack was still warming up.
            "ttft_p50_by_quarter_ms": _quarters([r["ttft_ms"] for r in done if r.get("ttft_ms") is not None]),
            "warmup": {
                "requests": len(warming[name]),
                "ttft_ms": _percentiles([r["ttft_ms"] for r in warming[name] if r.get("ttft_ms") is not None]),
            },
        }
        for name, done in results.items()
    }


async def sync_cell(url: str, key: str, body: dict[str, Any], requests: int) -> dict[str, Any]:
    """The same request unstreamed, through the pipeline: the sync path's latency, for comparison in this run."""
    plain = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    latencies: list[float] = []
    async with httpx.AsyncClient(timeout=60) as client:
        for index in range(requests + 5):
            started = time.perf_counter()
            response = await client.post(url, json=plain, headers={"authorization": f"Bearer {key}"})
            if index >= 5 and response.status_code == 200:
                latencies.append((time.perf_counter() - started) * 1000)
    return {"requests": requests, "ok": len(latencies), "latency_ms": _percentiles(latencies)}


async def throughput_cell(
    url: str, key: str, body: dict[str, Any], concurrency: int, duration_s: float
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    results: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        deadline = time.monotonic() + duration_s

        async def loop() -> None:
            while time.monotonic() < deadline:
                try:
                    results.append(await one_stream(client, url, key, body))
                except httpx.HTTPError as error:
                    results.append({"status": 0, "error": f"{type(error).__name__}: {error!r}"[:200]})

        started = time.monotonic()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        elapsed_s = time.monotonic() - started
    complete = [r for r in results if r["status"] == 200 and r.get("done")]
    failed = [r for r in results if not (r["status"] == 200 and r.get("done"))]
    return {
        "concurrency": concurrency,
        "elapsed_s": round(elapsed_s, 3),
        "streams": len(complete),
        "errors": len(results) - len(complete),
        # What went wrong, by status and message: a count alone does not say whether the stack or the bench failed.
        "error_kinds": dict(Counter(f"{r['status']}: {r.get('error', '')}" for r in failed)),
        "streams_per_s": round(len(complete) / elapsed_s, 1),
        "ttft_ms": _percentiles([r["ttft_ms"] for r in complete if r.get("ttft_ms") is not None]),
        "total_ms": _percentiles([r["total_ms"] for r in complete]),
        "reported_cost_tokens": sum(r["cost"] or 0 for r in complete),
    }


async def run(
    base_url: str, fake_url: str, probe: BillingProbe, workspace: BenchWorkspace, arguments: argparse.Namespace
) -> dict[str, Any]:
    direct_url = f"{fake_url}/openai/v1/chat/completions"
    pipeline_url = f"{base_url}/openai/chat/completions"
    direct_body = _body(UPSTREAM_MODEL, arguments.chunk_ms, arguments.max_tokens)
    pipeline_body = _body(MODEL, arguments.chunk_ms, arguments.max_tokens)
    document: dict[str, Any] = {"machine": {**machine.machine_info(), "load_average_before": machine.load_average()}}
    ttft = await ttft_cells(
        {
            "direct": (direct_url, "sk-bench", direct_body),
            "pipeline": (pipeline_url, workspace.api_key, pipeline_body),
        },
        arguments.requests,
        arguments.warmup,
    )
    direct, pipeline = ttft["direct"], ttft["pipeline"]
    sync = await sync_cell(pipeline_url, workspace.api_key, pipeline_body, arguments.requests)
    before = await probe.settle(workspace.workspace_id)
    direct_c = await throughput_cell(direct_url, "sk-bench", direct_body, arguments.concurrency, arguments.duration)
    pipeline_c = await throughput_cell(
        pipeline_url, workspace.api_key, pipeline_body, arguments.concurrency, arguments.duration
    )
    after = await probe.settle(workspace.workspace_id)
    billed = after.completed - before.completed
    spent = after.spent - before.spent
    document["machine"]["load_average_after"] = machine.load_average()
    document["cells"] = {
        "ttft_c1": {"direct": direct, "pipeline": pipeline, "pipeline_unstreamed": sync},
        f"throughput_c{arguments.concurrency}": {"direct": direct_c, "pipeline": pipeline_c},
    }
    overhead = None
    if direct["ttft_ms"]["p50"] is not None and pipeline["ttft_ms"]["p50"] is not None:
        overhead = round(pipeline["ttft_ms"]["p50"] - direct["ttft_ms"]["p50"], 3)
    document["billing"] = {
        "streams_counted": pipeline_c["streams"],
        "jobs_completed": billed,
        "spent_tokens": spent,
        "reported_cost_tokens": pipeline_c["reported_cost_tokens"],
        "held_after": after.held,
        "billing_exact": billed == pipeline_c["streams"] and spent == pipeline_c["reported_cost_tokens"],
    }
    document["summary"] = {
        "ttft_overhead_ms_p50_c1": overhead,
        "ttft_overhead_target_ms": 10,
        "ttft_overhead_met": overhead is not None and overhead <= 10,
        "unstreamed_latency_ms_p50_c1": sync["latency_ms"]["p50"],
        "billed_streams_per_s": round(billed / pipeline_c["elapsed_s"], 1),
        "pipeline_over_direct_streams_per_s": round(
            pipeline_c["streams_per_s"] / max(direct_c["streams_per_s"], 0.1), 3
        ),
        "pipeline_over_direct_ttft_p50_c1": round(pipeline["ttft_ms"]["p50"] / max(direct["ttft_ms"]["p50"], 0.001), 1)
        if overhead is not None
        else None,
    }
    return document


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench stream", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="sequential streams per target at c=1")
    parser.add_argument(
        "--warmup", type=int, default=50, help="streams per target at c=1 before measuring, reported apart (default 50)"
    )
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of the throughput cell")
    parser.add_argument("--chunk-ms", type=int, default=5, help="the fake's pause before each piece")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--base-url", help="a running stack's API base (…/api/v1); default: the dev stack")
    parser.add_argument("--fake-url", help="with --base-url: its fake provider")
    parser.add_argument("--database-url", help="with --base-url: its database")
    parser.add_argument("--name", default="streaming", help="results file bench/results/<name>.json")
    return parser


async def _main(arguments: argparse.Namespace, command: str) -> int:
    from bench import stackctl

    session = None
    if arguments.base_url:
        base_url, fake_url, database_url = arguments.base_url, arguments.fake_url, arguments.database_url
    else:
        session = stackctl.bring_up()
        base_url, fake_url, database_url = session.base_url, session.fake_provider_url, session.database_url
    probe = BillingProbe(database_url)
    try:
        workspace = await probe.create()
        document = await run(base_url, fake_url, probe, workspace, arguments)
    finally:
        await probe.close()
        if session is not None:
            stackctl.restore(session)
    document = {
        "bench": "streaming",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": command,
        "git": machine.git_info(),
        "workspace": workspace.workspace_id,
        **document,
    }
    path = report.write(arguments.name, document)
    summary, billing = document["summary"], document["billing"]
    print(
        f"ttft p50 overhead at c=1: {summary['ttft_overhead_ms_p50_c1']} ms (target <= 10); "
        f"billed streams/s at c={arguments.concurrency}: {summary['billed_streams_per_s']} "
        f"({summary['pipeline_over_direct_streams_per_s']} of direct); billing exact: {billing['billing_exact']}"
    )
    print(f"wrote {path}")
    return 0


def main(argv: Sequence[str]) -> int:
    arguments = parser().parse_args(argv)
    return asyncio.run(_main(arguments, " ".join(["python -m bench stream", *argv])))
