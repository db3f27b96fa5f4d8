"""Debian's Prometheus for the local stack: scrapes every service's `/metrics` into a run directory.

`make up` starts it (opt out with `LUNTREX_PROMETHEUS=0`), after installing Debian's `prometheus` package
with apt when the binary is missing and we are root; `make down` stops it. It listens on 127.0.0.1 only,
keeps two days of samples under `<run_dir>/prometheus/`, and its configuration is written from the one list
of processes (stack/processes.py), so a new service's port is scraped without editing a second file.
"""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from stack.pids import live_pid, port_open, tail, terminate, write_pid
from stack.profiles import LOOPBACK

BINARY = "prometheus"
APT_PACKAGE = "prometheus"
APT_TIMEOUT_S = 900.0
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 15.0
RETENTION = "2d"
CMDLINE_MARKER = "--config.file="


class PrometheusStartError(RuntimeError):
    """Prometheus could not be installed or started; the message says why."""


class PrometheusSettings(BaseSettings):
    """`LUNTREX_PROMETHEUS=0` leaves Prometheus out of `make up`; the port and scrape interval are settings."""

    model_config = SettingsConfigDict(env_prefix="LUNTREX_", extra="ignore")

    prometheus: bool = True
    prometheus_port: int = Field(default=9090, ge=1, le=65_535)
    prometheus_scrape_interval_s: int = Field(default=5, ge=1, le=300)


def url(port: int) -> str:
    return f"http://{LOOPBACK}:{port}"


def config_text(targets: Mapping[str, str], scrape_interval_s: int) -> str:
    """The scrape configuration: one job per service, named after it, scraping `host:port/metrics`."""
    lines = [
        "# Written by stack/prometheus.py from stack/processes.py; rewritten on every start.",
        "global:",
        f"  scrape_interval: {scrape_interval_s}s",
        f"  evaluation_interval: {scrape_interval_s}s",
        "scrape_configs:",
    ]
    for job, address in sorted(targets.items()):
        lines += [f"  - job_name: {job}", "    static_configs:", f"      - targets: ['{address}']"]
    return "\n".join(lines) + "\n"


def prometheus_pid(run_dir: Path) -> int | None:
    return live_pid(run_dir / "prometheus.pid", CMDLINE_MARKER + str(run_dir / "prometheus"))


def ensure_prometheus(run_dir: Path, port: int, targets: Mapping[str, str], scrape_interval_s: int) -> str:
    """Start Prometheus for `run_dir` unless it runs already; return its URL once it is ready."""
    home = run_dir / "prometheus"
    config = home / "prometheus.yml"
    home.mkdir(parents=True, exist_ok=True)
    config.write_text(config_text(targets, scrape_interval_s))
    if prometheus_pid(run_dir) is not None:
        _reload(port)
        return url(port)
    if port_open(LOOPBACK, port):
        raise PrometheusStartError(
            f"port {port} is taken by a process this stack did not start; stop it, or set LUNTREX_PROMETHEUS_PORT "
            "(LUNTREX_PROMETHEUS=0 leaves Prometheus out)"
        )
    log_path = run_dir / "logs" / "prometheus.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        _binary(),
        f"{CMDLINE_MARKER}{home}/prometheus.yml",
        f"--storage.tsdb.path={home}/data",
        f"--storage.tsdb.retention.time={RETENTION}",
        f"--web.listen-address={LOOPBACK}:{port}",
        "--web.enable-lifecycle",
    ]
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    write_pid(run_dir / "prometheus.pid", process.pid)
    _wait_ready(process, port, log_path)
    return url(port)


def stop_prometheus(run_dir: Path) -> bool:
    """Stop the Prometheus of `run_dir` if it runs; True when it was running."""
    pid = prometheus_pid(run_dir)
    if pid is None:
        return False
    terminate(pid, STOP_GRACE_S, group=False)
    (run_dir / "prometheus.pid").unlink(missing_ok=True)
    return True


def _binary() -> str:
    found = shutil.which(BINARY)
    if found:
        return found
    if os.geteuid() != 0:
        raise PrometheusStartError(
            "Prometheus is not installed and we are not root: run `sudo apt-get install -y prometheus` "
            "(or set LUNTREX_PROMETHEUS=0)"
        )
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", APT_PACKAGE]
    for command in (["apt-get", "update"], install):
        result = subprocess.run(
            command, env=environment, capture_output=True, text=True, timeout=APT_TIMEOUT_S, check=False
        )
        if result.returncode != 0:
            raise PrometheusStartError(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}{result.stderr}")
    found = shutil.which(BINARY)
    if not found:
        raise PrometheusStartError(f"apt-get installed {APT_PACKAGE} but no `{BINARY}` is on PATH")
    return found


def _wait_ready(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PrometheusStartError(f"prometheus exited with {process.returncode}:\n{tail(log_path, 30)}")
        if _answers(port, "/-/ready"):
            return
        time.sleep(0.2)
    raise PrometheusStartError(f"prometheus not ready after {START_TIMEOUT_S:.0f}s:\n{tail(log_path, 30)}")


def _answers(port: int, path: str, method: str = "GET") -> bool:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=2)
    try:
        connection.request(method, path)
        return connection.getresponse().status == http.client.OK
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def _reload(port: int) -> None:
    """A running Prometheus re-reads its (just rewritten) configuration."""
    _answers(port, "/-/reload", method="POST")
