"""The load generator: Debian's ``wrk`` driven by ``post.lua``, which prints one JSON result line."""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LUA_SCRIPT = Path(__file__).with_name("post.lua")
RESULT_MARKER = "BENCH_RESULT "
# A request slower than this is a wrk "timeout" error; far above any latency the bench expects.
REQUEST_TIMEOUT_S = 30
APT_TIMEOUT_S = 300


class WrkError(RuntimeError):
    """wrk is missing and cannot be installed, or a run failed or printed no result."""


@dataclass(frozen=True)
class Load:
    """One wrk run: where to POST what, with how many connections, for how long."""

    url: str
    body: str
    authorization: str
    connections: int
    duration_s: float
    threads: int = 1
    pin_cpu: int | None = None


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    status_counts: dict[int, int]
    non_2xx: int
    socket_errors: dict[str, int]
    latency_ms: dict[str, float]
    # CPU seconds (user + system) the wrk process itself used.
    wrk_cpu_s: float

    @property
    def ok(self) -> int:
        return self.status_counts.get(200, 0)

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def errors(self) -> int:
        """Responses that were not 2xx plus socket errors (connect, read, write, timeout)."""
        return self.non_2xx + sum(self.socket_errors.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "duration_s": round(self.duration_s, 3),
            "requests_per_s": round(self.requests_per_s, 1),
            "latency_ms": self.latency_ms,
            "status_counts": {str(status): count for status, count in sorted(self.status_counts.items())},
            "non_2xx": self.non_2xx,
            "socket_errors": self.socket_errors,
            "errors": self.errors,
            "wrk_cpu_s": round(self.wrk_cpu_s, 3),
        }


def ensure_wrk() -> str:
    """The path of wrk; installs Debian's package when it is missing and we are root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise WrkError("wrk is missing: sudo apt-get install -y wrk")
    print("bench: installing wrk (apt-get install -y wrk)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"]
    if subprocess.run(install, env=env, capture_output=True, timeout=APT_TIMEOUT_S, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=APT_TIMEOUT_S, check=True)
        subprocess.run(install, env=env, capture_output=True, timeout=APT_TIMEOUT_S, check=True)
    found = shutil.which("wrk")
    if not found:
        raise WrkError("apt-get installed wrk but it is not on PATH")
    return found


def version(wrk: str) -> str:
    completed = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    return (completed.stdout + completed.stderr).splitlines()[0].strip() if completed.stdout or completed.stderr else ""


def command(wrk: str, load: Load) -> list[str]:
    argv = [
        wrk,
        f"--threads={min(load.threads, load.connections)}",
        f"--connections={load.connections}",
        f"--duration={max(1, round(load.duration_s))}s",
        f"--timeout={REQUEST_TIMEOUT_S}s",
        "--latency",
        f"--script={LUA_SCRIPT}",
        load.url,
    ]
    if load.pin_cpu is not None:
        taskset = shutil.which("taskset")
        if taskset is None:
            raise WrkError("--pin-cpu needs taskset (util-linux)")
        argv = [taskset, "--cpu-list", str(load.pin_cpu), *argv]
    return argv


async def run(wrk: str, load: Load) -> WrkResult:
    """Run wrk to completion and parse the line ``post.lua``'s done() prints."""
    env = {**os.environ, "BENCH_BODY": load.body, "BENCH_AUTHORIZATION": load.authorization}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = await asyncio.create_subprocess_exec(
        *command(wrk, load), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = output.decode(errors="replace")
    if process.returncode != 0:
        raise WrkError(f"wrk exited with {process.returncode}:\n{text}")
    return parse(text, cpu_s=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime))


def parse(text: str, *, cpu_s: float = 0.0) -> WrkResult:
    match = re.search(rf"^{RESULT_MARKER}(\{{.*\}})\s*$", text, re.MULTILINE)
    if match is None:
        raise WrkError(f"wrk printed no {RESULT_MARKER.strip()} line:\n{text}")
    raw = json.loads(match.group(1))
    latency_us: dict[str, float] = raw["latency_us"]
    return WrkResult(
        requests=int(raw["requests"]),
        duration_s=raw["duration_us"] / 1e6,
        status_counts={int(status): int(count) for status, count in raw["status_counts"].items()},
        non_2xx=int(raw["non_2xx"]),
        socket_errors={kind: int(count) for kind, count in raw["errors"].items() if kind != "status"},
        latency_ms={name: round(value / 1000, 3) for name, value in latency_us.items()},
        wrk_cpu_s=cpu_s,
    )
