"""Command line of the local stack: ``python -m stack services|up|down|status|logs``.

- ``services --profile dev|test``: only Kafka and PostgreSQL; writes ``<run_dir>/services.env``.
- ``up``: the dev services, migrations, topics, the project's processes and the demo seed; writes
  ``.run/stack.env`` and prints a ready-to-paste request. A no-op when everything already runs.
- ``down [--profile]``: stops the project's processes, then Kafka and PostgreSQL.
- ``status [--profile]`` and ``logs [--profile] [--lines N]``: one line per part; the tail of each log.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from stack import envfile, launcher, provisioning
from stack.kafka import KafkaStartError, kafka_pid
from stack.launcher import ProcessStartError
from stack.pids import port_open, tail
from stack.postgres import PostgresStartError, postgres_pid
from stack.processes import BASE_URL, PROCESSES, process_env
from stack.profiles import DEV, LOOPBACK, PROFILES
from stack.provisioning import ProvisioningError
from stack.services import Endpoints, ensure_services, stop_services

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
    except (StackError, KafkaStartError, PostgresStartError, ProcessStartError, ProvisioningError) as error:
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
    if stack_env and all(launcher.is_healthy(process, DEV.run_dir) for process in PROCESSES):
        print("stack: already up")
        _print_access(stack_env)
        return 0
    step_env = {"DATABASE_URL": endpoints.database_url, "LUNTREX_DATABASE_URL": endpoints.database_url}
    for warning in (
        provisioning.migrate(step_env),
        provisioning.create_topics(step_env, endpoints.kafka_bootstrap),
    ):
        if warning:
            print(f"stack: warning: {warning}", file=sys.stderr)
    _start_processes(endpoints)
    seed_values, warning = provisioning.seed(_process_env_for_steps(endpoints))
    if warning:
        print(f"stack: warning: {warning}", file=sys.stderr)
    stack_env = {
        "LUNTREX_BASE_URL": BASE_URL,
        **seed_values,
        "KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap,
        "DATABASE_URL": endpoints.database_url,
    }
    envfile.write(STACK_ENV_PATH, stack_env)
    print(f"stack: up in {time.monotonic() - started:.1f}s; wrote {STACK_ENV_PATH}")
    _print_access(stack_env)
    return 0


def _start_processes(endpoints: Endpoints) -> None:
    """Start every process that is not running, then wait for all of them to be healthy.

    A port held by a process the stack does not know is refused up front (a stranger answering the health
    check would pass for ours), and a failed start stops what this call started, so nothing is orphaned.
    """
    started: dict[str, int] = {}
    for process in PROCESSES:
        if launcher.process_pid(process, DEV.run_dir) is None:
            if process.port is not None and port_open(LOOPBACK, process.port):
                _stop_all(started)
                raise StackError(
                    f"port {process.port} for {process.name} is taken by a process this stack did not start; "
                    f"stop it first (see `ss -ltnp | grep {process.port}`)"
                )
            env = process_env(process, DEV.run_dir, endpoints.kafka_bootstrap, endpoints.database_url)
            pid = launcher.start(process, DEV.run_dir, env)
            started[process.name] = pid
            print(f"stack: started {process.name} (pid {pid})")
    try:
        launcher.wait_healthy(PROCESSES, DEV.run_dir, started)
    except ProcessStartError:
        _stop_all(started)
        raise


def _stop_all(started: dict[str, int]) -> None:
    by_name = {process.name: process for process in PROCESSES}
    for name, pid in reversed(started.items()):
        launcher.stop_launched(by_name[name], DEV.run_dir, pid)


def _process_env_for_steps(endpoints: Endpoints) -> dict[str, str]:
    """The settings every process gets, for one-shot steps run with the processes' configuration."""
    env = process_env(PROCESSES[0], DEV.run_dir, endpoints.kafka_bootstrap, endpoints.database_url)
    del env["LUNTREX_READY_FILE"]
    return {**env, "DATABASE_URL": endpoints.database_url}


def _print_access(stack_env: dict[str, str]) -> None:
    print(f"\nBase URL: {stack_env.get('LUNTREX_BASE_URL', BASE_URL)}")
    if "LUNTREX_API_KEY" not in stack_env:
        print("(no LUNTREX_API_KEY: the demo seed has not run)")
    print(f"\nset -a; . {STACK_ENV_PATH}; set +a")
    print(SEED_REQUEST_CURL)


def _down(arguments: argparse.Namespace) -> int:
    profile = PROFILES[arguments.profile]
    for process in reversed(PROCESSES):
        if launcher.stop(process, profile.run_dir):
            print(f"stopped {process.name}")
    for name in stop_services(profile):
        print(f"stopped {name}")
    return 0


def _status(arguments: argparse.Namespace) -> int:
    profile = PROFILES[arguments.profile]
    rows: list[tuple[str, int | None, str, str]] = [
        ("kafka", kafka_pid(profile.run_dir), str(profile.kafka_port), ""),
        ("postgres", postgres_pid(profile.run_dir), str(profile.postgres_port), ""),
    ]
    for process in PROCESSES:
        pid = launcher.process_pid(process, profile.run_dir)
        health = ""
        if pid is not None:
            health = "healthy" if launcher.is_healthy(process, profile.run_dir) else "not ready"
        rows.append((process.name, pid, str(process.port or "-"), health))
    for name, pid, port, health in rows:
        state = "running" if pid is not None else "stopped"
        print(f"{name:<13} {state:<8} pid {pid or '-':<8} port {port:<6} {health}".rstrip())
    return 0


def _logs(arguments: argparse.Namespace) -> int:
    profile = PROFILES[arguments.profile]
    names = ["kafka", "postgres", *(process.name for process in PROCESSES)]
    for name in names:
        path = profile.logs_dir / f"{name}.log"
        if path.exists():
            print(f"==> {path} <==")
            print(tail(path, arguments.lines), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
