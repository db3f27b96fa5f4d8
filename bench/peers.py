"""``python -m bench peers`` (``make bench-peers``): the same wrk load on the fake provider, our pipeline and LiteLLM.

LiteLLM proxy (the most used Python gateway), at a pinned version, is installed into its own venv under
`.cache/peers/` on first use and run with no database, pointed at the same fake provider our workers call,
with a master key (so it authenticates each request, as ingress does). Every cell (fake latency x
concurrency) runs the three targets one after the other, in one run on the same machine: requests/s and
latency percentiles from wrk, CPU per request per process, and, for our pipeline, the billing check. Ours
durably queues (Kafka) and bills (PostgreSQL) every request; the peer does neither: say so beside the figures.

Writes `bench/results/peers.json` and prints the table the README shows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench import adhoc, machine, procstat, report, stackctl, wrk
from bench.runner import DIRECT, PIPELINE, PIPELINE_MODEL, Bench, Settings, Target, seed_body
from bench.workspace import BillingProbe, final_check
from stack.profiles import CACHE_DIR

LITELLM = "litellm"
# 1.107.0 was a compromised release (withdrawn); from 1.108 the proxy moved to a `litellm-proxy` package this
# machine's registry does not carry. 1.106.12 ships the proxy in the `litellm[proxy]` extra.
LITELLM_VERSION = "1.106.12"
LITELLM_MASTER_KEY = "sk-bench-peer"
START_TIMEOUT_S = 180.0
PIP_TIMEOUT_S = 1800


def litellm_venv(version: str = LITELLM_VERSION) -> Path:
    return CACHE_DIR / "peers" / f"litellm-{version}"


def ensure_litellm(version: str = LITELLM_VERSION) -> Path:
    """The `litellm` command of a venv holding exactly `litellm[proxy]==version`; installs it on first use."""
    venv = litellm_venv(version)
    command = venv / "bin" / "litellm"
    if command.exists():
        return command
    started = time.monotonic()
    print(f"bench: installing LiteLLM proxy {version} into {venv} (first run only; a few minutes)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", f"litellm[proxy]=={version}"],
        check=True,
        timeout=PIP_TIMEOUT_S,
    )
    print(f"bench: LiteLLM proxy installed in {time.monotonic() - started:.0f} s", flush=True)
    return command


def litellm_config(fake_provider_url: str) -> str:
    return (
        "model_list:\n"
        "  - model_name: openai/gpt-4.1-mini\n"
        "    litellm_params:\n"
        "      model: openai/gpt-4.1-mini\n"
        f"      api_base: {fake_provider_url}/openai/v1\n"
        "      api_key: sk-fake-openai\n"
        "general_settings:\n"
        f"  master_key: {LITELLM_MASTER_KEY}\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "  drop_params: true\n"
    )


class RunningLiteLLM:
    """LiteLLM proxy as a subprocess: no database, its logs in the workdir, stopped by its own pid."""

    def __init__(self, command: Path, fake_provider_url: str, port: int, workers: int, workdir: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        config = workdir / "litellm.yaml"
        config.write_text(litellm_config(fake_provider_url))
        # No DATABASE_URL (no spend tracking); the model cost map from the package, not the network.
        env = {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}
        env |= {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False"}
        self.log_path = workdir / "litellm.log"
        argv = [str(command), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
        self.process = subprocess.Popen(
            [*argv, "--num_workers", str(workers)],
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"LiteLLM exited:\n{self.log_path.read_text(errors='replace')[-3000:]}")
            try:
                # Its first completion imports and builds the provider client (seconds): warm it here, not in a cell.
                if httpx.get(f"{self.url}/health/liveliness", timeout=2).status_code == 200 and self._answers():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"LiteLLM not ready after {START_TIMEOUT_S} s")

    def _answers(self) -> bool:
        response = httpx.post(
            f"{self.url}/v1/chat/completions",
            content=seed_body(PIPELINE_MODEL),
            headers={"Authorization": f"Bearer {LITELLM_MASTER_KEY}", "Content-Type": "application/json"},
            timeout=60,
        )
        return response.status_code == 200

    def cpu_s(self) -> float:
        return procstat.tree_cpu_s(self.process.pid) if self.process.poll() is None else 0.0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench peers", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", default="1,64,256")
    parser.add_argument("--latency", default="0,50")
    parser.add_argument("--peer-workers", type=int, default=1, help="LiteLLM worker processes (default 1)")
    parser.add_argument(
        "--services",
        default=None,
        help="KAFKA_BOOTSTRAP,ADMIN_DATABASE_URL: run our services on these (bench/adhoc.py) instead of the dev stack",
    )
    parser.add_argument("--name", default="peers")
    return parser


def main(argv: list[str]) -> int:
    arguments = _parser().parse_args(argv)
    arguments.command = " ".join(["python -m bench peers", *argv])
    try:
        return asyncio.run(_main(arguments))
    except (stackctl.StackUnavailableError, wrk.WrkError, RuntimeError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1


async def _main(arguments: argparse.Namespace) -> int:
    settings = Settings(
        duration_s=arguments.duration,
        warmup_s=arguments.warmup,
        concurrencies=tuple(int(part) for part in arguments.concurrency.split(",")),
        latencies_ms=tuple(int(part) for part in arguments.latency.split(",")),
        threads=1,
        pin_cpu=None,
        targets=(DIRECT, PIPELINE, LITELLM),
    )
    wrk_path = wrk.ensure_wrk()
    command = ensure_litellm()
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    load_before = machine.load_average()
    services: adhoc.AdhocServices | None = None
    session: Any
    if arguments.services:
        kafka, admin_url = arguments.services.split(",", 1)
        services = adhoc.AdhocServices(kafka=kafka, admin_database_url=admin_url)
        await services.start()
        session, ours = services, services.cpu_by_part
    else:
        session = stackctl.bring_up()
        ours = None
    peer = RunningLiteLLM(command, session.fake_provider_url, adhoc.free_port(), arguments.peer_workers, _workdir())
    probe = BillingProbe(session.database_url)
    try:
        peer.wait_ready()
        workspace = await probe.create()
        bench = Bench(settings, session, probe, workspace, wrk_path, cpu_by_part=_with_peer(ours, peer))
        bench.targets[LITELLM] = Target(
            LITELLM, f"{peer.url}/v1/chat/completions", seed_body(PIPELINE_MODEL), f"Bearer {LITELLM_MASTER_KEY}"
        )
        cells = await bench.run_all()
        final = await probe.settle(workspace.workspace_id)
        billing = final_check(
            final,
            bench.pipeline_ok_total,
            bench.pipeline_in_flight_allowance,
            [cell["billing"] for cell in cells if "billing" in cell],
        )
    finally:
        await probe.close()
        peer.stop()
        if services is not None:
            services.stop()
        else:
            stackctl.restore(session)
    document = {
        "bench": "peers",
        "timestamp": started_at,
        "command": arguments.command,
        "git": machine.git_info(),
        "machine": {
            **machine.machine_info(),
            "load_average_before": load_before,
            "load_average_after": machine.load_average(),
        },
        "versions": {"litellm": LITELLM_VERSION, "wrk": wrk.version(wrk_path), "python": sys.version.split()[0]},
        "services": "adhoc on " + arguments.services.split(",", 1)[0] if arguments.services else "dev stack",
        "peer_workers": arguments.peer_workers,
        "billing": billing,
        "runs": cells,
    }
    path = report.write(arguments.name, document)
    print()
    print(table(cells))
    print(f"\nbilling of our pipeline: {'exact' if billing['billing_exact'] else 'NOT EXACT'}; wrote {path}")
    return 0 if billing["billing_exact"] else 1


def _with_peer(ours: Callable[[], dict[str, float]] | None, peer: RunningLiteLLM) -> Callable[[], dict[str, float]]:
    def read() -> dict[str, float]:
        base = ours() if ours is not None else procstat.cpu_by_part(stackctl.service_pids())
        return {**base, LITELLM: peer.cpu_s()}

    return read


def _workdir() -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix="luntrex-peers-"))


def table(cells: list[dict[str, Any]]) -> str:
    """Markdown: one row per (fake latency, concurrency), req/s and p50/p99 per target."""
    rows = [
        "| fake latency | c | fake provider: req/s, p50 / p99 | ours: billed req/s, p50 / p99 "
        "| LiteLLM: req/s, p50 / p99 |",
        "|---|---|---|---|---|",
    ]
    keyed = {(c["fake_latency_ms"], c["concurrency"], c["target"]): c for c in cells}
    for latency, concurrency in sorted({(c["fake_latency_ms"], c["concurrency"]) for c in cells}):
        parts = []
        for target in (DIRECT, PIPELINE, LITELLM):
            cell = keyed.get((latency, concurrency, target))
            if cell is None:
                parts.append("-")
                continue
            rate = cell.get("billed_requests_per_s", cell["requests_per_s"])
            errors = f", {cell['errors']} errors" if cell["errors"] else ""
            parts.append(f"{rate:,.0f}, {cell['latency_ms']['p50']:.1f} / {cell['latency_ms']['p99']:.1f} ms{errors}")
        rows.append(f"| {latency} ms | {concurrency} | " + " | ".join(parts) + " |")
    return "\n".join(rows)
