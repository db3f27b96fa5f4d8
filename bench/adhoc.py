"""Our services started for a bench on a Kafka and a PostgreSQL that already run (``--services BOOTSTRAP,URL``).

Where the dev stack cannot be started (its ports taken, or a machine shared with sessions using their own
Kafka and PostgreSQL), the bench runs the fake provider, the ledger, the workers and ingress from this checkout
as subprocesses, on a database it creates (migrated to head) and topics under a prefix of its own, and stops
and drops them afterwards. PostgreSQL's settings are whatever that server has (the test profile runs with
fsync off): say so beside any figure measured this way. The CPU of our PostgreSQL backends is read from /proc
(the server runs on this machine), so other databases' load is not counted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from bench import ledger_bench, procstat
from runtime.catalogue_file import load_catalogue
from runtime.kafka import ensure_topics
from runtime.settings import ServiceSettings
from runtime.topics import topic_plan
from stack.profiles import REPO_ROOT

START_TIMEOUT_S = 90.0
SERVICES = ("fakeprovider", "ledger", "workers", "ingress")


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: each socket stays bound until all are picked. One closed at once can be handed
    out again by the next bind, and two services then race for one port: a CI run once gave the fake provider and
    the ingress the same port, and every end-to-end test of the run failed behind an ingress that could not bind.
    The tests pick their ports here too (`tests/processes.py`)."""
    import socket

    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    return free_ports(1)[0]


@dataclass
class AdhocServices:
    """The services of one bench run, on an existing Kafka and PostgreSQL."""

    kafka: str
    admin_database_url: str
    root: Path = REPO_ROOT
    database_url: str = ""
    base_url: str = ""
    fake_provider_url: str = ""
    started: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    _processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="luntrex-bench-")))

    async def start(self) -> None:
        self.database_url = ledger_bench.create_database(self.admin_database_url)
        prefix = f"b{uuid.uuid4().hex[:8]}."
        catalogue = load_catalogue(self.root / "config" / "models.toml")
        await ensure_topics(ServiceSettings(kafka_bootstrap_servers=self.kafka), topic_plan(catalogue, prefix))
        fake_port, ingress_port = free_ports(2)
        self.fake_provider_url = f"http://127.0.0.1:{fake_port}"
        self.base_url = f"http://127.0.0.1:{ingress_port}/api/v1"
        fake = self.fake_provider_url
        env = {
            "LUNTREX_KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            "LUNTREX_DATABASE_URL": self.database_url,
            "LUNTREX_TOPIC_PREFIX": prefix,
            "LUNTREX_LEDGER_APP_ID": f"{prefix}ledger",
            "OPENAI_API_KEY": "sk-fake-openai",
            "ANTHROPIC_API_KEY": "sk-ant-fake",
            "GEMINI_API_KEY": "fake-gemini-key",
            "LLAMA_API_KEY": "fake-llama-key",
            "LUNTREX_PROVIDER_BASE_URLS": (
                f'{{"openai": "{fake}/openai/v1", "anthropic": "{fake}/anthropic", '
                f'"gemini": "{fake}/gemini", "llama": "{fake}/openai/v1"}}'
            ),
        }
        self.env = env
        argv = {
            "fakeprovider": ["fakeprovider", "--port", str(fake_port)],
            "ledger": ["ledger"],
            "workers": ["workers"],
            "ingress": ["ingress", "--port", str(ingress_port)],
        }
        for name in SERVICES:
            self._start(name, argv[name], env)
        self._wait_http(f"http://127.0.0.1:{ingress_port}/healthz")

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        ready = self._workdir / f"{name}.ready"
        log = (self._workdir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", *argv],
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env, "LUNTREX_READY_FILE": str(ready)},
        )
        self._processes[name] = process
        self.started.append(name)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (self._workdir / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"bench: {name} did not start:\n{tail}")
            time.sleep(0.05)

    def _wait_http(self, url: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"bench: {url} never answered")

    def cpu_by_part(self) -> dict[str, float]:
        """CPU seconds so far of each of our services and, as "postgres", of our database's backends."""
        cpu = procstat.cpu_by_part(
            {name: process.pid for name, process in self._processes.items() if process.poll() is None}
        )
        cpu["postgres"] = sum(procstat.process_cpu_s(pid) for pid in self._backend_pids())
        return cpu

    def _backend_pids(self) -> list[int]:
        name = self.database_url.rsplit("/", 1)[1]
        with psycopg.connect(ledger_bench.libpq_url(self.admin_database_url), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,)
            ).fetchall()
        return [int(row[0]) for row in rows]

    def start_more(self, name: str, module: str) -> None:
        """Start one more service (`python -m <module>`) beside the four, with their settings."""
        self._start(name, [module], self.env)

    def stop(self) -> None:
        for name in reversed(self.started):
            process = self._processes.get(name)
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
        if self.database_url:
            ledger_bench.drop_database(self.admin_database_url, self.database_url)
