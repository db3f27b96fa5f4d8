"""The project's processes in the local stack and the environment each one gets: the one place to edit.

``python -m stack up`` starts them in this order, detached, with the repository root as working
directory and the interpreter that runs the stack (the project venv).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from runtime.db_roles import Service, role_url
from stack.profiles import DEV, LOOPBACK, Profile

FAKE_PROVIDER_PORT = 8700
INGRESS_PORT = 8080
FAKE_PROVIDER_URL = f"http://{LOOPBACK}:{FAKE_PROVIDER_PORT}"
# `/metrics` of the services without an HTTP port of their own (LUNTREX_METRICS_PORT); ingress serves it on 8080.
LEDGER_METRICS_PORT = 9101
WORKERS_METRICS_PORT = 9102
BASE_URL = f"http://{LOOPBACK}:{INGRESS_PORT}/api/v1"
CATALOGUE_PATH = "config/models.toml"

# Every provider points at the local fake provider server, which speaks each real wire format.
PROVIDER_BASE_URLS = {
    "openai": f"{FAKE_PROVIDER_URL}/openai/v1",
    "anthropic": f"{FAKE_PROVIDER_URL}/anthropic",
    "gemini": f"{FAKE_PROVIDER_URL}/gemini",
    "llama": f"{FAKE_PROVIDER_URL}/openai/v1",
}

# The catalogue names each provider's key variable (config/models.toml, api_key_env). The fake provider
# accepts any key that does not start with "invalid", so these placeholders stand in for real secrets.
FAKE_PROVIDER_API_KEYS = (
    ("OPENAI_API_KEY", "fake-local-openai-key"),
    ("ANTHROPIC_API_KEY", "fake-local-anthropic-key"),
    ("GEMINI_API_KEY", "fake-local-gemini-key"),
    ("LLAMA_API_KEY", "fake-local-llama-key"),
)


LOCAL_WEBHOOK_NETWORKS = (("LUNTREX_WEBHOOK_ALLOWED_NETWORKS", '["127.0.0.0/8"]'),)


@dataclass(frozen=True)
class Process:
    """One long-running project process: ``python -m <module> <args>``."""

    name: str
    module: str
    args: tuple[str, ...] = ()
    port: int | None = None
    # Healthy when GET 127.0.0.1:<port><health_path> answers 200; None: once it writes its ready file.
    health_path: str | None = None
    # Settings only this process needs, on top of those every process gets (process_env).
    extra_env: tuple[tuple[str, str], ...] = ()
    # Started with the operator's admin credential (LUNTREX_ADMIN_KEY); only ingress serves the admin API.
    admin: bool = False
    # The PostgreSQL role it connects as (runtime/db_roles.py); None: it uses no database and gets no URL.
    db_role: Service | None = None

    def pid_path(self, run_dir: Path) -> Path:
        return run_dir / f"{self.name}.pid"

    def ready_path(self, run_dir: Path) -> Path:
        return run_dir / f"{self.name}.ready"

    def log_path(self, run_dir: Path) -> Path:
        return run_dir / "logs" / f"{self.name}.log"

    @property
    def cmdline_marker(self) -> str:
        """What this process's argv contains, to tell it apart from a stranger that reused its pid."""
        return f"-m {self.module} "


PROCESSES: tuple[Process, ...] = (
    Process(
        "fakeprovider",
        "fakeprovider",
        ("--port", str(FAKE_PROVIDER_PORT)),
        port=FAKE_PROVIDER_PORT,
        health_path="/healthz",
    ),
    # The local stack's webhook receivers are on this machine: loopback is allowed (every other non-global address
    # is refused), by the ledger when an endpoint is registered and by the dispatcher at every delivery.
    Process(
        "ledger",
        "ledger",
        extra_env=(*LOCAL_WEBHOOK_NETWORKS, ("LUNTREX_METRICS_PORT", str(LEDGER_METRICS_PORT))),
        db_role="ledger",
    ),
    # Webhook deliveries, beside the ledger (whose tables it reads and writes).
    Process("dispatcher", "ledger.dispatcher", extra_env=LOCAL_WEBHOOK_NETWORKS, db_role="ledger"),
    Process(
        "workers",
        "workers",
        extra_env=(*FAKE_PROVIDER_API_KEYS, ("LUNTREX_METRICS_PORT", str(WORKERS_METRICS_PORT))),
    ),
    Process(
        "ingress",
        "ingress",
        ("--port", str(INGRESS_PORT)),
        port=INGRESS_PORT,
        health_path="/healthz",
        admin=True,
        db_role="ingress",
    ),
)

# What Prometheus scrapes (stack/prometheus.py): every service's `/metrics`, by service name.
METRICS_TARGETS = {
    "ingress": f"{LOOPBACK}:{INGRESS_PORT}",
    "ledger": f"{LOOPBACK}:{LEDGER_METRICS_PORT}",
    "workers": f"{LOOPBACK}:{WORKERS_METRICS_PORT}",
}


def processes_for(profile: Profile) -> tuple[Process, ...]:
    """The processes a profile runs: one of each (PROCESSES), or ``profile.replicas`` of each service.

    Replicas: ledgers share the Faust app id, so the group splits the workspace partitions between them;
    each worker process runs every pool, so each pool's consumer group has one member per process; ingress
    replicas share one port (SO_REUSEPORT) and are healthy once they wrote their ready file, since a health
    request to the shared port could be answered by any of them.
    """
    if profile.replicas == 1 and profile.ingress_port == INGRESS_PORT:
        return PROCESSES
    fake = Process(
        "fakeprovider",
        "fakeprovider",
        ("--port", str(profile.fake_provider_port)),
        port=profile.fake_provider_port,
        health_path="/healthz",
    )
    numbers = range(1, profile.replicas + 1)
    ingress_args = ("--port", str(profile.ingress_port))
    return (
        fake,
        *(Process(f"ledger-{n}", "ledger", extra_env=LOCAL_WEBHOOK_NETWORKS, db_role="ledger") for n in numbers),
        # One dispatcher is enough for the local cluster (several may run: they claim deliveries with SKIP LOCKED).
        Process("dispatcher", "ledger.dispatcher", extra_env=LOCAL_WEBHOOK_NETWORKS, db_role="ledger"),
        *(Process(f"workers-{n}", "workers", extra_env=FAKE_PROVIDER_API_KEYS) for n in numbers),
        *(
            Process(
                f"ingress-{n}",
                "ingress",
                ingress_args,
                port=profile.ingress_port,
                extra_env=(("LUNTREX_REUSE_PORT", "true"),),
                admin=True,
                db_role="ingress",
            )
            for n in numbers
        ),
    )


def base_url(profile: Profile) -> str:
    return f"http://{LOOPBACK}:{profile.ingress_port}/api/v1"


def process_env(
    process: Process,
    run_dir: Path,
    kafka_bootstrap: str,
    database_url: str,
    *,
    admin_key: str | None = None,
    profile: Profile = DEV,
) -> dict[str, str]:
    """The ``LUNTREX_`` settings one process is started with (added to the caller's environment); the admin
    key goes to the processes that serve the admin API only, and a database URL (as the process's own role)
    only to those that use one."""
    admin = {"LUNTREX_ADMIN_KEY": admin_key} if process.admin and admin_key is not None else {}
    database = {} if process.db_role is None else {"LUNTREX_DATABASE_URL": role_url(database_url, process.db_role)}
    fake_url = f"http://{LOOPBACK}:{profile.fake_provider_port}"
    provider_urls = {name: url.replace(FAKE_PROVIDER_URL, fake_url) for name, url in PROVIDER_BASE_URLS.items()}
    return {
        **admin,
        **database,
        "LUNTREX_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "LUNTREX_CATALOGUE_PATH": CATALOGUE_PATH,
        "LUNTREX_PROVIDER_BASE_URLS": json.dumps(provider_urls),
        "LUNTREX_READY_FILE": str(process.ready_path(run_dir)),
        **kafka_durability_env(profile),
        **dict(process.extra_env),
    }


def kafka_durability_env(profile: Profile) -> dict[str, str]:
    """A multi-broker profile's topic durability, for every process and the topic creation step."""
    if profile.brokers == 1:
        return {}
    return {
        "LUNTREX_KAFKA_REPLICATION_FACTOR": str(profile.replication_factor),
        "LUNTREX_KAFKA_MIN_INSYNC_REPLICAS": str(profile.min_insync_replicas),
    }
