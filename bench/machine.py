"""What the bench ran on and which code it measured."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from stack.profiles import REPO_ROOT


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def machine_info() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "cpu_idle": _cpu_idle(),
    }


def _cpu_idle() -> dict[str, str]:
    """How an idle core sleeps, which sets what waking a process costs (every hop at c=1 wakes a few).

    A KVM guest with the `haltpoll` driver and `guest_halt_poll_ns` 0 halts at once: each wake-up is then a trip
    through the hypervisor."""
    found: dict[str, str] = {}
    for name, path in (
        ("driver", "/sys/devices/system/cpu/cpuidle/current_driver"),
        ("governor", "/sys/devices/system/cpu/cpuidle/current_governor_ro"),
        ("haltpoll_guest_halt_poll_ns", "/sys/module/haltpoll/parameters/guest_halt_poll_ns"),
    ):
        try:
            found[name] = Path(path).read_text().strip()
        except OSError:
            continue
    return found


def _git(*args: str) -> str:
    completed = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    return completed.stdout


def git_info() -> dict[str, Any]:
    """The commit measured, and the files that differed from it (the running services may include them)."""
    changed = [line[3:] for line in _git("status", "--porcelain", "--untracked-files=no").splitlines() if line]
    return {"commit": _git("rev-parse", "HEAD").strip(), "dirty": bool(changed), "uncommitted_changes": changed}
