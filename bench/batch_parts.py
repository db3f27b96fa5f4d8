"""CPU of every part of the batch bench's pipeline, from /proc: our four services, the PostgreSQL backends of the
bench's database, the Kafka broker and the bench's own client, plus the machine's busy time.

PostgreSQL and Kafka are the shared test services: the backends are counted by pid (those serving the bench's
database, found in `pg_stat_activity`, the bench's own connections excepted), sampled every time `sample` is
called so that a backend that exits mid-run still counts what it used up to its last sample. The broker is one
JVM shared with whatever else uses the test Kafka: its CPU includes their traffic (compare it with
`other_processes_cpu_s`, the machine's busy time outside every part counted here).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench import ledger_bench, procstat

# The bench's own connections carry this name, so its polling is not counted as the pipeline's work.
BENCH_APPLICATION_NAME = "luntrex-bench-probe"


def listening_pid(port: int) -> int | None:
    """The pid of the process listening on TCP `port` on this machine (the test Kafka broker), if any."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            # local_address is HEX_IP:HEX_PORT; state 0A is LISTEN.
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return int(proc.name)
        except (PermissionError, FileNotFoundError, ProcessLookupError):
            continue
    return None


@dataclass
class PartsProbe:
    """CPU seconds so far of each part; `sample` refreshes the PostgreSQL backends it knows of."""

    services: dict[str, int]
    admin_url: str
    database: str
    kafka_pid: int | None
    _backends: dict[int, float] = field(default_factory=dict)
    _conn: psycopg.Connection[tuple[object, ...]] | None = None

    def _backend_pids(self) -> list[int]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                ledger_bench.libpq_url(self.admin_url), autocommit=True, application_name=BENCH_APPLICATION_NAME
            )
        rows = self._conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name <> %s",
            (self.database, BENCH_APPLICATION_NAME),
        ).fetchall()
        return [int(str(row[0])) for row in rows]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def sample(self) -> None:
        for pid in self._backend_pids():
            seconds = procstat.process_cpu_s(pid)
            # A pid gone between the query and the read reads 0: keep what it was seen using before.
            self._backends[pid] = max(seconds, self._backends.get(pid, 0.0))
        for pid in list(self._backends):
            seconds = procstat.process_cpu_s(pid)
            if seconds:
                self._backends[pid] = max(seconds, self._backends[pid])

    def cpu_s(self) -> dict[str, float]:
        self.sample()
        parts = {name: procstat.process_cpu_s(pid) for name, pid in self.services.items()}
        parts["postgres"] = sum(self._backends.values())
        if self.kafka_pid is not None:
            parts["kafka"] = procstat.process_cpu_s(self.kafka_pid)
        times = os.times()
        parts["bench_client"] = times.user + times.system
        return parts


@dataclass(frozen=True)
class Window:
    """CPU of each part and of the machine at one moment, to subtract from a later one."""

    parts: dict[str, float]
    machine: procstat.MachineTimes

    @staticmethod
    def now(probe: PartsProbe) -> Window:
        return Window(probe.cpu_s(), procstat.machine_times())

    def until(self, later: Window, units: int) -> dict[str, object]:
        """Per part: CPU microseconds per unit (line or job) between the two moments; and the machine's share."""
        spent = {name: later.parts[name] - self.parts.get(name, 0.0) for name in later.parts}
        busy_s = later.machine.busy_s - self.machine.busy_s
        total_s = later.machine.total_s - self.machine.total_s
        return {
            "us_per_unit": {name: round(seconds / units * 1e6, 1) for name, seconds in spent.items()},
            "pipeline_us_per_unit": round(
                sum(seconds for name, seconds in spent.items() if name != "bench_client") / units * 1e6, 1
            ),
            "machine_busy_pct": round(100 * busy_s / max(total_s, 1e-9), 1),
            "other_processes_cpu_s": round(busy_s - sum(spent.values()), 2),
        }
