"""The real Prometheus (Debian's package) scrapes the real stack, and the Grafana dashboard queries only
metrics the services expose."""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from stack import prometheus
from stack.processes import METRICS_TARGETS, PROCESSES
from tests.conftest import Stack, make_workspace
from tests.processes import free_port
from tests.services import ROOT

DASHBOARD = ROOT / "docs" / "grafana" / "luntrex.json"
CHAT = {"model": "openai/gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}]}
# The series the test follows in Prometheus: completed chat requests on the native surface.
QUERY = 'sum(luntrex_http_requests_total{route="/api/v1/chat/completions",status="200"})'


def _exposed_names(text: str) -> set[str]:
    """Every name a query may use for what this exposition declares (a family with no sample yet included)."""
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        if family.type == "histogram":
            names.update(f"{family.name}_{suffix}" for suffix in ("bucket", "count", "sum"))
    return names


@pytest.mark.integration
async def test_every_metric_the_dashboard_queries_is_exposed(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    assert (await client.post("/chat/completions", headers=workspace.headers, json=CHAT)).status_code == 200
    exposed: set[str] = set()
    async with httpx.AsyncClient(timeout=10) as http:
        for url in stack.metrics_urls.values():
            exposed |= _exposed_names((await http.get(url)).text)
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    queried = {name for expr in queries for name in re.findall(r"\bluntrex_[a-z0-9_]+", expr)}
    assert len(queried) >= 15
    assert queried - exposed == set()


def test_prometheus_scrapes_every_service_of_the_stack() -> None:
    """`make up`'s scrape targets are the ports the processes are started with (stack/processes.py)."""
    ports = {
        process.name: dict(process.extra_env).get("LUNTREX_METRICS_PORT", str(process.port)) for process in PROCESSES
    }
    assert set(METRICS_TARGETS) == {"ingress", "ledger", "workers"}
    for job, target in METRICS_TARGETS.items():
        assert target.endswith(f":{ports[job]}")
    config = prometheus.config_text(METRICS_TARGETS, 5)
    for job, target in METRICS_TARGETS.items():
        assert f"job_name: {job}" in config and f"'{target}'" in config


async def _query(http: httpx.AsyncClient, base_url: str, promql: str) -> list[dict[str, object]]:
    answer = await http.get(f"{base_url}/api/v1/query", params={"query": promql})
    answer.raise_for_status()
    body = answer.json()
    assert body["status"] == "success", body
    result: list[dict[str, object]] = body["data"]["result"]
    return result


async def _value(http: httpx.AsyncClient, base_url: str, promql: str) -> float:
    result = await _query(http, base_url, promql)
    return float(result[0]["value"][1]) if result else 0.0  # type: ignore[index]


@pytest.mark.integration
async def test_real_prometheus_sees_requests_move_a_metric(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    run_dir = Path(tempfile.mkdtemp(prefix="luntrex-prometheus-"))
    targets = {job: url.removeprefix("http://").removesuffix("/metrics") for job, url in stack.metrics_urls.items()}
    base_url = await asyncio.to_thread(prometheus.ensure_prometheus, run_dir, free_port(), targets, 1)
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            deadline = time.monotonic() + 60
            while True:
                up = {str(r["metric"]["job"]): r["value"][1] for r in await _query(http, base_url, "up")}  # type: ignore[index]
                if up == dict.fromkeys(targets, "1") or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            assert up == dict.fromkeys(targets, "1"), up
            before = await _value(http, base_url, QUERY)
            workspace = await make_workspace(engine, tokens=100_000)
            for _ in range(3):
                assert (await client.post("/chat/completions", headers=workspace.headers, json=CHAT)).status_code == 200
            deadline = time.monotonic() + 60
            while True:
                after = await _value(http, base_url, QUERY)
                if after >= before + 3 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            assert after >= before + 3, (before, after)
            settled = await _value(http, base_url, 'sum(luntrex_ledger_settlements_total{status="completed"})')
            assert settled >= 3
    finally:
        assert prometheus.stop_prometheus(run_dir)
    assert prometheus.prometheus_pid(run_dir) is None
