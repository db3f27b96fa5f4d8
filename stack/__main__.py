"""Command line of the local stack: ``python -m stack services|up|down|status|logs``.

- ``services --profile dev|test``: only Kafka and PostgreSQL; writes ``<run_dir>/services.env``.
- ``up``: the dev services, migrations, topics, the supervisor with the project's processes, and the demo
  seed; mints the admin key once (stack/admin_key.py); writes ``.run/stack.env`` (0600) with the demo and
  admin keys and prints them with a ready-to-paste request. A no-op when everything runs.
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
from stack.launcher import ProcessStartError
from stack.pids import port_open, tail
from stack.plan import Entry, Plan, read_plan
from stack.postgres import PostgresStartError, postgres_pid
from stack.processes import BASE_URL, METRICS_TARGETS, PROCESSES, process_env
from stack.profiles import DEV, LOOPBACK, PROFILES
from stack.provisioning import ProvisioningError
from stack.services import Endpoints, ensure_services, stop_services
from stack.supervision import SupervisorStartError

STACK_ENV_PATH = DEV.run_dir / "stack.env"
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
    add("up", _up, "start the whole dev stack and seed it", profile=False)
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


def _up(_arguments: argparse.Namespace) -> int:
    missing = [process.module for process in PROCESSES if not provisioning.runnable(process.module)]
    if missing:
        raise StackError(
            "cannot start the stack: no `python -m` entry point (<package>/__main__.py) yet for " + ", ".join(missing)
        )
    started = time.monotonic()
    endpoints = ensure_services(DEV)
    stack_env = envfile.read(STACK_ENV_PATH)
    if (
        stack_env
        and admin_key.ENV_NAME in stack_env
        and supervision.supervisor_pid(DEV.run_dir) is not None
        and all(launcher.is_healthy(process, DEV.run_dir) for process in PROCESSES)
    ):
        print("stack: already up")
        _start_prometheus()
        _print_access(stack_env)
        return 0
    step_env = {"DATABASE_URL": endpoints.database_url, "LUNTREX_DATABASE_URL": endpoints.database_url}
    for warning in (
        provisioning.migrate(step_env),
        provisioning.create_topics(step_env, endpoints.kafka_bootstrap),
    ):
        if warning:
            print(f"stack: warning: {warning}", file=sys.stderr)
    running = _running_admin_env(DEV.run_dir)
    admin, admin_reused = admin_key.ensure(STACK_ENV_PATH, running)
    print(f"stack: {'reused the admin key' if admin_reused else 'minted an admin key'}")
    if running is not None and admin_key.ENV_NAME not in running:
        print(
            "stack: warning: the running ingress was started without an admin key; "
            "`make down && make up` to start it with this one",
            file=sys.stderr,
        )
    _start_supervised(endpoints, admin)
    seed_values, reused = provisioning.seed(_process_env_for_steps(endpoints), STACK_ENV_PATH)
    print(f"stack: {'reused the demo key' if reused else 'minted a demo key'} ({seed_values['LUNTREX_API_KEY_ID']})")
    stack_env = {
        "LUNTREX_BASE_URL": BASE_URL,
        admin_key.ENV_NAME: admin,
        **seed_values,
        "KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap,
        "DATABASE_URL": endpoints.database_url,
    }
    envfile.write(STACK_ENV_PATH, stack_env)
    _start_prometheus()
    print(f"stack: up in {time.monotonic() - started:.1f}s; wrote {STACK_ENV_PATH}")
    _print_access(stack_env)
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


def _start_supervised(endpoints: Endpoints, admin: str) -> None:
    """Have the supervisor run every process, then wait for all of them to be healthy.

    A port held by a process the stack does not know is refused up front (a stranger answering the health
    check would pass for ours). When the supervisor started now and a process fails to come up, the
    supervisor and everything it started are stopped, so nothing is orphaned.
    """
    for process in PROCESSES:
        if process.port is None or launcher.process_pid(process, DEV.run_dir) is not None:
            continue
        if port_open(LOOPBACK, process.port):
            raise StackError(
                f"port {process.port} for {process.name} is taken by a process this stack did not start; "
                f"stop it first (see `ss -ltnp | grep {process.port}`)"
            )
    entries = tuple(
        Entry(
            process,
            process_env(process, DEV.run_dir, endpoints.kafka_bootstrap, endpoints.database_url, admin_key=admin),
        )
        for process in PROCESSES
    )
    supervisor_pid = supervision.ensure_supervisor(DEV.run_dir, Plan(entries))
    if supervisor_pid is not None:
        print(f"stack: started the supervisor (pid {supervisor_pid}); it runs " + _process_list(DEV.run_dir))
    try:
        launcher.wait_healthy(PROCESSES, DEV.run_dir, restarting=supervisor_pid is None)
    except ProcessStartError:
        if supervisor_pid is not None:
            _stop_processes(DEV.run_dir)
        raise


def _process_list(run_dir: Path) -> str:
    return ", ".join(f"{process.name} (pid {launcher.process_pid(process, run_dir)})" for process in PROCESSES)


def _stop_processes(run_dir: Path) -> list[str]:
    """Stop the supervisor, then any process it left (or that ran without one); the names that ran."""
    running = [process.name for process in reversed(PROCESSES) if launcher.process_pid(process, run_dir) is not None]
    # The supervisor goes first (it stops its processes itself): one stopped behind its back would restart.
    stopped = ["supervisor"] if supervision.stop_supervisor(run_dir) else []
    for process in reversed(PROCESSES):
        launcher.stop(process, run_dir)
    return stopped + running


def _process_env_for_steps(endpoints: Endpoints) -> dict[str, str]:
    """The settings every process gets, for one-shot steps run with the processes' configuration."""
    env = process_env(PROCESSES[0], DEV.run_dir, endpoints.kafka_bootstrap, endpoints.database_url)
    del env["LUNTREX_READY_FILE"]
    # One-shot steps (the demo seed) run as the tables' owner, like the migrations.
    return {**env, "DATABASE_URL": endpoints.database_url, "LUNTREX_DATABASE_URL": endpoints.database_url}


def _start_prometheus() -> None:
    """Debian's Prometheus scraping every service, unless LUNTREX_PROMETHEUS=0 (stack/prometheus.py)."""
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


def _print_access(stack_env: dict[str, str]) -> None:
    base_url = stack_env.get("LUNTREX_BASE_URL", BASE_URL)
    print(f"\nBase URL: {base_url}")
    print(f"Console:  {base_url.removesuffix('/api/v1')}/console (sign in with the API key or the admin key below)")
    if "LUNTREX_API_KEY" not in stack_env:
        print("(no LUNTREX_API_KEY: the demo seed has not run)")
    if admin_key.ENV_NAME in stack_env:
        print(f"Admin key ({admin_key.ENV_NAME}, for /api/v1/admin and `luntrex`): {stack_env[admin_key.ENV_NAME]}")
    print(f"\nset -a; . {STACK_ENV_PATH}; set +a")
    print(SEED_REQUEST_CURL)


def _down(arguments: argparse.Namespace) -> int:
    profile = PROFILES[arguments.profile]
    for name in _stop_processes(profile.run_dir):
        print(f"stopped {name}")
    if prometheus.stop_prometheus(profile.run_dir):
        print("stopped prometheus")
    for name in stop_services(profile):
        print(f"stopped {name}")
    return 0


def _status(arguments: argparse.Namespace) -> int:
    profile = PROFILES[arguments.profile]
    rows: list[tuple[str, int | None, str, str]] = [
        ("kafka", kafka_pid(profile.run_dir), str(profile.kafka_port), ""),
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
    for process in PROCESSES:
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


def _supervise(arguments: argparse.Namespace) -> int:
    return supervisor.run(arguments.run_dir)


def _logs(arguments: argparse.Namespace) -> int:
    profile = PROFILES[arguments.profile]
    names = ["kafka", "postgres", "prometheus", *(process.name for process in PROCESSES)]
    for name in names:
        path = profile.logs_dir / f"{name}.log"
        if path.exists():
            print(f"==> {path} <==")
            print(tail(path, arguments.lines), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
