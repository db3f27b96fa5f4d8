"""Derived figures, the issue's targets, the human table and the JSON file of a bench run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).with_name("results")
OVERHEAD_P50_MAX_MS = 10.0
BILLED_RPS_MIN = 500.0
TAIL_RATIO_MAX = 3.0
TAIL_CONCURRENCY = 64
CPU_CONCURRENCY = 64
SERVICES = ("ingress", "ledger", "workers", "fakeprovider", "kafka", "postgres", "wrk")


def _find(cells: list[dict[str, Any]], target: str, latency_ms: int, concurrency: int) -> dict[str, Any] | None:
    for cell in cells:
        if (cell["target"], cell["fake_latency_ms"], cell["concurrency"]) == (target, latency_ms, concurrency):
            return cell
    return None


def _latencies(cells: list[dict[str, Any]]) -> list[int]:
    return sorted({cell["fake_latency_ms"] for cell in cells})


def summarise(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Overhead at c=1, throughput ratios, billed throughput at saturation, tail ratio and CPU per request."""
    by_latency: dict[str, Any] = {}
    for latency in _latencies(cells):
        entry: dict[str, Any] = {}
        pipeline_c1, direct_c1 = _find(cells, "pipeline", latency, 1), _find(cells, "direct", latency, 1)
        if pipeline_c1 and direct_c1:
            entry["overhead_p50_ms_c1"] = round(pipeline_c1["latency_ms"]["p50"] - direct_c1["latency_ms"]["p50"], 3)
        entry["throughput_ratio_pipeline_to_direct"] = {
            str(cell["concurrency"]): round(cell["requests_per_s"] / direct["requests_per_s"], 4)
            for cell in cells
            if cell["target"] == "pipeline"
            and cell["fake_latency_ms"] == latency
            and (direct := _find(cells, "direct", latency, cell["concurrency"]))
            and direct["requests_per_s"]
        }
        pipeline = [cell for cell in cells if cell["target"] == "pipeline" and cell["fake_latency_ms"] == latency]
        if pipeline:
            best = max(pipeline, key=lambda cell: cell.get("billed_requests_per_s", 0.0))
            entry["billed_requests_per_s_saturation"] = best.get("billed_requests_per_s", 0.0)
            entry["saturation_concurrency"] = best["concurrency"]
        tail = _find(cells, "pipeline", latency, TAIL_CONCURRENCY)
        if tail and tail["latency_ms"]["p50"]:
            entry[f"p99_over_p50_c{TAIL_CONCURRENCY}"] = round(tail["latency_ms"]["p99"] / tail["latency_ms"]["p50"], 2)
        entry[f"cpu_ms_per_request_c{CPU_CONCURRENCY}"] = {
            target: {name: part["ms_per_request"] for name, part in cell["cpu"]["by_part"].items()}
            for target in ("pipeline", "direct")
            if (cell := _find(cells, target, latency, CPU_CONCURRENCY))
        }
        by_latency[str(latency)] = entry
    return {"by_fake_latency_ms": by_latency, "targets": _targets(by_latency)}


def _targets(by_latency: dict[str, Any]) -> dict[str, Any]:
    overheads = {lat: e["overhead_p50_ms_c1"] for lat, e in by_latency.items() if "overhead_p50_ms_c1" in e}
    saturation = max((e.get("billed_requests_per_s_saturation", 0.0) for e in by_latency.values()), default=0.0)
    tails = {
        lat: e[f"p99_over_p50_c{TAIL_CONCURRENCY}"]
        for lat, e in by_latency.items()
        if f"p99_over_p50_c{TAIL_CONCURRENCY}" in e
    }
    return {
        "overhead_p50_c1_ms": {
            "limit": OVERHEAD_P50_MAX_MS,
            "measured": overheads,
            "met": bool(overheads) and all(v <= OVERHEAD_P50_MAX_MS for v in overheads.values()),
        },
        "billed_requests_per_s_at_saturation": {
            "limit": BILLED_RPS_MIN,
            "measured": saturation,
            "met": saturation >= BILLED_RPS_MIN,
        },
        f"p99_over_p50_c{TAIL_CONCURRENCY}": {
            "limit": TAIL_RATIO_MAX,
            "measured": tails,
            "met": bool(tails) and all(v <= TAIL_RATIO_MAX for v in tails.values()),
        },
    }


def table(cells: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    lines = [
        f"{'target':<9}{'fake ms':>8}{'conc':>6}{'req/s':>11}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}"
        f"{'p99.9 ms':>10}{'errors':>8}{'billed':>8}",
    ]
    for cell in cells:
        latency = cell["latency_ms"]
        billed = cell.get("billing", {}).get("billed_requests", "")
        lines.append(
            f"{cell['target']:<9}{cell['fake_latency_ms']:>8}{cell['concurrency']:>6}{cell['requests_per_s']:>11.1f}"
            f"{latency['p50']:>10.2f}{latency['p90']:>10.2f}{latency['p99']:>10.2f}{latency['p99_9']:>10.2f}"
            f"{cell['errors']:>8}{billed!s:>8}"
        )
    lines.append("")
    lines.append(f"CPU ms per completed request at c={CPU_CONCURRENCY} (utime+stime from /proc):")
    lines.append(f"{'target':<9}{'fake ms':>8}" + "".join(f"{name:>13}" for name in SERVICES))
    for latency, entry in summary["by_fake_latency_ms"].items():
        for target, parts in entry[f"cpu_ms_per_request_c{CPU_CONCURRENCY}"].items():
            row = "".join(f"{_ms(parts.get(name)):>13}" for name in SERVICES)
            lines.append(f"{target:<9}{latency:>8}{row}")
    lines.append("")
    for name, target in summary["targets"].items():
        lines.append(
            f"target {name}: limit {target['limit']}, measured {target['measured']}: "
            f"{'MET' if target['met'] else 'NOT MET'}"
        )
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def write(name: str, document: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
