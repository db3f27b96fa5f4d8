"""``python -m bench profile``: sample ingress, ledger and workers with py-spy while the pipeline is loaded.

py-spy (PyPI, installed into the venv when missing) records each service for the measured window with
``--nonblocking`` (it never pauses the process) and ``--gil`` (only samples holding the GIL, i.e. running
Python, so an event loop waiting in epoll does not count). The collapsed stacks are reduced to the top packages and
functions by self and inclusive samples, written to ``bench/results/profile_<service>.txt``.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import fake
from bench.report import RESULTS_DIR
from bench.runner import PIPELINE, Bench
from bench.stackctl import service_pids

PROFILED = ("ingress", "ledger", "workers")
SAMPLE_RATE_HZ = 100
TOP = 25
PIP_TIMEOUT_S = 300
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


class ProfilerError(RuntimeError):
    """py-spy is missing and cannot be installed, or it could not attach."""


def ensure_py_spy() -> str:
    """py-spy beside the venv's interpreter, pip-installed from PyPI when missing."""
    candidate = Path(sys.executable).with_name("py-spy")
    if not candidate.exists():
        print("bench: installing py-spy into the venv (pip install py-spy)", flush=True)
        completed = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "py-spy"],
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT_S,
            check=False,
        )
        if completed.returncode != 0:
            raise ProfilerError(f"pip install py-spy failed:\n{completed.stdout}{completed.stderr}")
    found = str(candidate) if candidate.exists() else shutil.which("py-spy")
    if not found:
        raise ProfilerError("py-spy is not installed")
    return found


@dataclass(frozen=True)
class Frame:
    function: str
    file: str

    @property
    def package(self) -> str:
        """The top-level package or stdlib module a frame belongs to (py-spy prints paths from sys.path)."""
        head = self.file.split("/", 1)[0]
        return head.removesuffix(".py") if head else self.file

    def __str__(self) -> str:
        return f"{self.function} ({self.file})"


def parse_frame(text: str) -> Frame:
    match = FRAME.match(text.strip())
    if match is None:
        return Frame(text.strip(), "?")
    return Frame(match["function"], match["file"])


@dataclass
class Stacks:
    """Counts of py-spy's collapsed stacks ("frame;frame;... count" lines)."""

    samples: int
    self_by_function: Counter[str]
    inclusive_by_function: Counter[str]
    self_by_package: Counter[str]

    @classmethod
    def read(cls, path: Path) -> Stacks:
        samples = 0
        self_fn: Counter[str] = Counter()
        inclusive_fn: Counter[str] = Counter()
        self_pkg: Counter[str] = Counter()
        for line in path.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [parse_frame(part) for part in stack.split(";")]
            samples += count
            self_fn[str(frames[-1])] += count
            self_pkg[frames[-1].package] += count
            for name in {str(frame) for frame in frames}:
                inclusive_fn[name] += count
        return cls(samples, self_fn, inclusive_fn, self_pkg)


def render(service: str, pid: int, stacks: Stacks, context: dict[str, Any]) -> str:
    def pct(count: int) -> str:
        return f"{100 * count / stacks.samples:6.1f}%" if stacks.samples else "     -"

    busy = context["cpu"]
    lines = [
        f"py-spy of {service} (pid {pid}): {context['duration_s']:.0f} s at {SAMPLE_RATE_HZ} Hz, --nonblocking --gil "
        f"(samples holding the GIL); load: pipeline, fake latency {context['fake_latency_ms']} ms, "
        f"c={context['concurrency']}, {context['requests_per_s']:.1f} req/s",
        f"samples: {stacks.samples} "
        f"(~{stacks.samples / (SAMPLE_RATE_HZ * context['duration_s']):.2f} of one core busy)",
        f"CPU from /proc (authoritative; py-spy's shares below are relative): {busy['cpu_s']} s, "
        f"{busy['cores']} cores, {busy['ms_per_request']} ms per billed request",
        "",
        "Self samples by package (where the CPU is spent):",
        *(f"  {pct(count)}  {name}" for name, count in stacks.self_by_package.most_common(TOP)),
        "",
        "Top functions by self samples:",
        *(f"  {pct(count)}  {name}" for name, count in stacks.self_by_function.most_common(TOP)),
        "",
        "Top functions by inclusive samples (the function or anything it called):",
        *(f"  {pct(count)}  {name}" for name, count in stacks.inclusive_by_function.most_common(TOP)),
    ]
    return "\n".join(lines) + "\n"


async def _record(py_spy: str, pid: int, duration_s: float, output: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        py_spy,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(duration_s))),
        "--rate",
        str(SAMPLE_RATE_HZ),
        "--format",
        "raw",
        "--output",
        str(output),
        "--nonblocking",
        "--gil",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def profile(bench: Bench, py_spy: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One profiled pipeline cell per (latency, concurrency); returns the cells and a summary per service."""
    cells: list[dict[str, Any]] = []
    profiles: dict[str, Any] = {}
    target = bench.targets[PIPELINE]
    settings = bench.settings
    try:
        for latency_ms in settings.latencies_ms:
            fake.set_latency(bench.session.fake_provider_url, latency_ms)
            for connections in settings.concurrencies:
                await bench.warm_up(target, connections)
                pids = {name: pid for name, pid in service_pids().items() if name in PROFILED}
                with tempfile.TemporaryDirectory(prefix="bench-py-spy-") as scratch:
                    raw = {name: Path(scratch) / f"{name}.raw" for name in pids}
                    recorders = {
                        name: await _record(py_spy, pid, settings.duration_s, raw[name]) for name, pid in pids.items()
                    }
                    cell = await bench.run_cell(target, latency_ms, connections, warm_up=False)
                    for name, recorder in recorders.items():
                        output, _ = await recorder.communicate()
                        if recorder.returncode != 0 or not raw[name].exists():
                            raise ProfilerError(f"py-spy on {name} failed:\n{output.decode(errors='replace')}")
                    cells.append(cell)
                    for name, pid in pids.items():
                        stacks = Stacks.read(raw[name])
                        context = {
                            "duration_s": settings.duration_s,
                            "fake_latency_ms": latency_ms,
                            "concurrency": connections,
                            "requests_per_s": cell["requests_per_s"],
                            "cpu": cell["cpu"]["by_part"][name],
                        }
                        suffix = (
                            ""
                            if (latency_ms, connections) == (settings.latencies_ms[0], settings.concurrencies[0])
                            else f"_lat{latency_ms}_c{connections}"
                        )
                        path = RESULTS_DIR / f"profile_{name}{suffix}.txt"
                        path.parent.mkdir(parents=True, exist_ok=True)
                        path.write_text(render(name, pid, stacks, context))
                        profiles[f"{name}{suffix}"] = {
                            "file": str(path.relative_to(RESULTS_DIR.parent.parent)),
                            "samples": stacks.samples,
                            "cpu_ms_per_request": context["cpu"]["ms_per_request"],
                            "top_packages_self_pct": {
                                pkg: round(100 * n / stacks.samples, 1)
                                for pkg, n in stacks.self_by_package.most_common(8)
                            }
                            if stacks.samples
                            else {},
                        }
    finally:
        fake.reset(bench.session.fake_provider_url)
    return cells, profiles
