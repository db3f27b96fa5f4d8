"""CPU time per process from /proc: what each part of the stack spends per request."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the parenthesised command name (field 3 onwards)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_cpu_s(pid: int, *, with_reaped_children: bool = False) -> float:
    """utime + stime of every thread of ``pid`` (plus cutime + cstime of its reaped children when asked)."""
    try:
        fields = _stat_fields(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # After the command name: state is index 0, utime 11, stime 12, cutime 13, cstime 14 (fields 14-17).
    ticks = int(fields[11]) + int(fields[12])
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS_PER_S


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.extend(int(child) for child in task.read_text().split())
        except FileNotFoundError:
            continue
    return found


def tree_cpu_s(pid: int) -> float:
    """A server and its worker processes (PostgreSQL's backends): itself, live children and reaped ones."""
    return process_cpu_s(pid, with_reaped_children=True) + sum(process_cpu_s(child) for child in children(pid))


def cpu_by_part(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds consumed so far by each named part; PostgreSQL counts its backends too."""
    return {name: tree_cpu_s(pid) if name == "postgres" else process_cpu_s(pid) for name, pid in pids.items()}


@dataclass(frozen=True)
class MachineTimes:
    """Aggregate CPU time of the machine (/proc/stat "cpu" line), in seconds."""

    busy_s: float
    total_s: float


def machine_times() -> MachineTimes:
    line = Path("/proc/stat").read_text().splitlines()[0].split()
    values = [int(value) for value in line[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice; guests are already in user/nice.
    idle = values[3] + values[4]
    total = sum(values[:8])
    return MachineTimes(busy_s=(total - idle) / CLOCK_TICKS_PER_S, total_s=total / CLOCK_TICKS_PER_S)


def context_switches(pid: int) -> int:
    """Context switches so far of every live thread of ``pid``: each wake-up from a sleep is one (voluntary)."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            lines = status.read_text().splitlines()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += sum(int(line.split()[1]) for line in lines if line.split(":")[0].endswith("ctxt_switches"))
    return total
