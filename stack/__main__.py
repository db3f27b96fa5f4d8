"""Command line of the local stack: ``python -m stack services|up|down|status|logs``.

- ``services --profile dev|test|cluster``: only Kafka and PostgreSQL; writes ``<run_dir>/services.env``.
- ``up [--profile dev|cluster]``: the profile's services, migrations, topics, the supervisor with the
  project's processes, and the demo seed; mints the admin key once (stack/admin_key.py); writes
  ``<run_dir>/stack.env`` (0600) with the demo and admin keys and prints them with a ready-to-paste request.
  A no-op when everything runs. ``cluster`` runs three brokers and two replicas of each service.
- ``down [--profile]``: stops the supervisor and the project's processes, then Kafka and PostgreSQL.
- ``status [--profile]`` and ``logs [--profile] [--lines N]``: one line per part; the tail of each log.
- ``supervise --run-dir DIR``: the supervisor itself, started detached by ``up`` (stack/supervisor.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from stack import admin_key, envfile, launcher, prometheus, provisioning, supervision, supervisor
from stack.kafka import KafkaStartError, kafka_pid
from stack.kafka_cluster import broker_pid
from stack.launcher import ProcessStartError
from stack.pids import port_open, tail
from stack.plan import Entry, Plan, read_plan
from stack.postgres import PostgresStartError, postgres_pid
from stack.prerequisites import PrerequisiteError
from stack.processes import METRICS_TARGETS, Process, base_url, kafka_durability_env, process_env, processes_for
from stack.profiles import DEV, LOOPBACK, PROFILES, TEST, Profile
from stack.progress import step
from stack.provisioning import ProvisioningError
from stack.services import Endpoints, cluster_spec, ensure_services, stop_services
from stack.supervision import SupervisorStartError

# Profiles `up` runs the project's processes on; the test profile is Kafka and PostgreSQL only.
UP_PROFILES = sorted(name for name in PROFILES if name != TEST.name)
DEFAULT_LOG_LINES = 20
SEED_REQUEST_CURL = (
    'curl -X POST "$LUNTREX_BASE_URL/chat/completions" -H "Authorization: Bearer $LUNTREX_API_KEY" '
    '-H "Content-Type: application/json" '
    """-d '{"model":"openai/gpt-4.1-mini","messages":[{"role":"user","content":"One-line joke"}]}'"""
)


class StackError(RuntimeError):
    """A precondition of a command does not hold (for example a service module is missing)."""


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        return int(arguments.handler(arguments))
    except (
        StackError,
        KafkaStartError,
        PostgresStartError,
        ProcessStartError,
        ProvisioningError,
        SupervisorStartError,
        prometheus.PrometheusStartError,
        PrerequisiteError,
    ) as error:
        print(f"stack: {error}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def add(name: str, handler: object, help_text: str, *, profile: bool = True) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text)
        command.set_defaults(handler=handler)
        if profile:
            command.add_argument("--profile", choices=sorted(PROFILES), default=DEV.name)
        return command

    add("services", _services, "start Kafka and PostgreSQL only")
    up = add("up", _up, "start the whole stack (dev, or the three-broker cluster) and seed it", profile=False)
    up.add_argument("--profile", choices=UP_PROFILES, default=DEV.name)
    add("down", _down, "stop the project's processes, Kafka and PostgreSQL")
    add("status", _status, "one line per part: running or stopped, pid, port")
    logs = add("logs", _logs, "the tail of each log")
    logs.add_argument("--lines", type=int, default=DEFAULT_LOG_LINES)
    supervise = add("supervise", _supervise, "run the supervisor in the foreground (up starts it)", profile=False)
    supervise.add_argument("--run-dir", type=Path, required=True)
    return parser


def _services(arguments: argparse.Namespace) -> int:
    profile = PROFILES[arguments.profile]
    started = time.monotonic()
    endpoints = ensure_services(profile)
    print(f"kafka     {endpoints.kafka_bootstrap}")
    print(f"postgres  {endpoints.database_url}")
    print(f"wrote {profile.services_env_path} ({time.monotonic() - started:.1f}s)")
    return 0


def _up(arguments: argparse.Namespace) -> int:
    profile = PROFILES[arguments.profile]
    processes = processes_for(profile)
    missing = [process.module for process in processes if not provisioning.runnable(process.module)]
    if missing:
        raise StackError(
            "cannot start the stack: no `python -m` entry point (<package>/__main__.py) yet for " + ", ".join(missing)
        )
    started = time.monotonic()
    stack_env_path = profile.run_dir / "stack.env"
    endpoints = ensure_services(profile)
    stack_env = envfile.read(stack_env_path)
    if (
        stack_env
        and admin_key.ENV_NAME in stack_env
        and supervision.supervisor_pid(profile.run_dir) is not None
        and all(launcher.is_healthy(process, profile.run_dir) for process in processes)
    ):
        print("stack: already up")
        _start_prometheus(profile)
        _print_access(stack_env, stack_env_path)
        return 0
    step_env = {
        "DATABASE_URL": endpoints.database_url,
        "LUNTREX_DATABASE_URL": endpoints.database_url,
        **kafka_durability_env(profile),
    }
    with step("running the database migrations"):
        migrate_warning = provisioning.migrate(step_env)
    with step("creating the Kafka topics"):
        topics_warning = provisioning.create_topics(step_env, endpoints.kafka_bootstrap)
    for warning in (migrate_warning, topics_warning):
        if warning:
            print(f"stack: warning: {warning}", file=sys.stderr)
    running = _running_admin_env(profile.run_dir)
    admin, admin_reused = admin_key.ensure(stack_env_path, running)
    print(f"stack: {'reused the admin key' if admin_reused else 'minted an admin key'}")
    if running is not None and admin_key.ENV_NAME not in running:
        print(
            "stack: warning: the running ingress was started without an admin key; "
            "`make down && make up` to start it with this one",
            file=sys.stderr,
        )
    with step(f"starting {len(processes)} processes under the supervisor"):
        _start_supervised(profile, processes, endpoints, admin)
    with step("seeding the demo workspace"):
        seed_values, reused = provisioning.seed(_process_env_for_steps(profile, endpoints), stack_env_path)
    print(f"stack: {'reused the demo key' if reused else 'minted a demo key'} ({seed_values['LUNTREX_API_KEY_ID']})")
    stack_env = {
        "LUNTREX_BASE_URL": base_url(profile),
        admin_key.ENV_NAME: admin,
        **seed_values,
        "KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap,
        "DATABASE_URL": endpoints.database_url,
    }
    envfile.write(stack_env_path, stack_env)
    _start_prometheus(profile)
    print(f"stack: up in {time.monotonic() - started:.1f}s; wrote {stack_env_path}")
    _print_access(stack_env, stack_env_path)
    return 0


def _running_admin_env(run_dir: Path) -> dict[str, str] | None:
    """The environment a running supervisor started the admin-serving process with (it keeps its plan)."""
    if supervision.supervisor_pid(run_dir) is None:
        return None
    try:
        plan = read_plan(run_dir)
    except (OSError, ValueError, KeyError):
        return None
    return next((entry.env for entry in plan.entries if entry.process.admin), None)


def _start_supervised(profile: Profile, processes: tuple[Process, ...], endpoints: Endpoints, admin: str) -> None:
    """Have the supervisor run every process, then wait for all of them to be healthy.

    A port held by a process the stack does not know is refused up front (a stranger answering the health
    check would pass for ours); replicas sharing a port are checked only while none of them runs. When the
    supervisor started now and a process fails to come up, the supervisor and everything it started are
    stopped, so nothing is orphaned.
    """
    run_dir = profile.run_dir
    for process in processes:
        owners = [other for other in processes if other.port == process.port]
        if process.port is None or any(launcher.process_pid(other, run_dir) is not None for other in owners):
            continue
        if port_open(LOOPBACK, process.port):
            raise StackError(
                f"port {process.port} for {process.name} is taken by a process this stack did not start; "
                f"stop it first (see `ss -ltnp | grep {process.port}`)"
            )
    entries = tuple(
        Entry(
            process,
            process_env(
                process, run_dir, endpoints.kafka_bootstrap, endpoints.database_url, admin_key=admin, profile=profile
            ),
        )
        for process in processes
    )
    supervisor_pid = supervision.ensure_supervisor(run_dir, Plan(entries))
    if supervisor_pid is not None:
        print(f"stack: started the supervisor (pid {supervisor_pid}); it runs " + _process_list(processes, run_dir))
    try:
        launcher.wait_healthy(processes, run_dir, restarting=supervisor_pid is None)
    except ProcessStartError:
        if supervisor_pid is not None:
            _stop_processes(profile)
        raise


def _process_list(processes: tuple[Process, ...], run_dir: Path) -> str:
    return ", ".join(f"{process.name} (pid {launcher.process_pid(process, run_dir)})" for process in processes)


def _stop_processes(profile: Profile) -> list[str]:
    """Stop the supervisor, then any process it left (or that ran without one); the names that ran."""
    run_dir, processes = profile.run_dir, processes_for(profile)
    running = [process.name for process in reversed(processes) if launcher.process_pid(process, run_dir) is not None]
    # The supervisor goes first (it stops its processes itself): one stopped behind its back would restart.
    stopped = ["supervisor"] if supervision.stop_supervisor(run_dir) else []
    for process in reversed(processes):
        launcher.stop(process, run_dir)
    return stopped + running


def _process_env_for_steps(profile: Profile, endpoints: Endpoints) -> dict[str, str]:
    """The settings every process gets, for one-shot steps run with the processes' configuration."""
    processes = processes_for(profile)
    env = process_env(processes[0], profile.run_dir, endpoints.kafka_bootstrap, endpoints.database_url, profile=profile)
    del env["LUNTREX_READY_FILE"]
    # One-shot steps (the demo seed) run as the tables' owner, like the migrations.
    return {**env, "DATABASE_URL": endpoints.database_url, "LUNTREX_DATABASE_URL": endpoints.database_url}


def _start_prometheus(profile: Profile) -> None:
    """Debian's Prometheus scraping every service, unless LUNTREX_PROMETHEUS=0 (stack/prometheus.py); the dev
    profile only (the cluster profile's replicas share the metrics ports, so one scrape could not tell them apart)."""
    if profile is not DEV:
        return
    settings = prometheus.PrometheusSettings()
    if not settings.prometheus:
        print("stack: Prometheus left out (LUNTREX_PROMETHEUS=0)")
        return
    address = prometheus.ensure_prometheus(
        DEV.run_dir, settings.prometheus_port, METRICS_TARGETS, settings.prometheus_scrape_interval_s
    )
    print(
        f"stack: Prometheus {address} scrapes "
        + ", ".join(f"{job} {target}" for job, target in METRICS_TARGETS.items())
    )


def _print_access(stack_env: dict[str, str], stack_env_path: Path) -> None:
    address = stack_env.get("LUNTREX_BASE_URL", base_url(DEV))
    print(f"\nBase URL: {address}")
    print(f"Console:  {address.removesuffix('/api/v1')}/console (sign in with the API key or the admin key below)")
    if "LUNTREX_API_KEY" not in stack_env:
        print("(no LUNTREX_API_KEY: the demo seed has not run)")
    if admin_key.ENV_NAME in stack_env:
        print(f"Admin key ({admin_key.ENV_NAME}, for /api/v1/admin and `luntrex`): {stack_env[admin_key.ENV_NAME]}")
    print(f"\nset -a; . {stack_env_path}; set +a")
    print(SEED_REQUEST_CURL)


def _down(arguments: argparse.Namespace) -> int:
    profile = PROFILES[arguments.profile]
    for name in _stop_processes(profile):
        print(f"stopped {name}")
    if prometheus.stop_prometheus(profile.run_dir):
        print("stopped prometheus")
    for name in stop_services(profile):
        print(f"stopped {name}")
    return 0


def _status(arguments: argparse.Namespace) -> int:
    profile = PROFILES[arguments.profile]
    rows: list[tuple[str, int | None, str, str]] = [
        *_kafka_rows(profile),
        ("postgres", postgres_pid(profile.run_dir), str(profile.postgres_port), ""),
        ("supervisor", supervision.supervisor_pid(profile.run_dir), "-", ""),
        (
            "prometheus",
            prometheus.prometheus_pid(profile.run_dir),
            str(prometheus.PrometheusSettings().prometheus_port),
            "",
        ),
    ]
    restarts = supervisor.read_state(profile.run_dir).get("processes", {})
    for process in processes_for(profile):
        pid = launcher.process_pid(process, profile.run_dir)
        health = ""
        if pid is not None:
            health = "healthy" if launcher.is_healthy(process, profile.run_dir) else "not ready"
        count = restarts.get(process.name, {}).get("restarts", 0)
        if count:
            health += f" restarts {count} (last: {restarts[process.name]['last_exit']})"
        rows.append((process.name, pid, str(process.port or "-"), health))
    for name, pid, port, health in rows:
        state = "running" if pid is not None else "stopped"
        print(f"{name:<13} {state:<8} pid {pid or '-':<8} port {port:<6} {health}".rstrip())
    return 0


def _kafka_rows(profile: Profile) -> list[tuple[str, int | None, str, str]]:
    if profile.brokers == 1:
        return [("kafka", kafka_pid(profile.run_dir), str(profile.kafka_port), "")]
    return [(broker.name, broker_pid(broker), str(broker.port), "") for broker in cluster_spec(profile).brokers]


def _supervise(arguments: argparse.Namespace) -> int:
    return supervisor.run(arguments.run_dir)


def _logs(arguments: argparse.Namespace) -> int:
    profile = PROFILES[arguments.profile]
    kafka_names = [row[0] for row in _kafka_rows(profile)]
    names = [*kafka_names, "postgres", "prometheus", *(process.name for process in processes_for(profile))]
    for name in names:
        path = profile.logs_dir / f"{name}.log"
        if path.exists():
            print(f"==> {path} <==")
            print(tail(path, arguments.lines), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
