"""The stack's supervisor restarts a process that dies, with bounded backoff, and leaves nothing behind.

Most tests supervise a tiny real server (`python -m http.server` on a free port, healthy when `GET /`
answers 200); one supervises the real ledger. All go through the launcher, plan file and detached
supervisor that `make up` uses.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runtime.settings import ServiceSettings
from runtime.topics import topic_plan
from schemas.catalogue import Catalogue
from stack import launcher, supervision
from stack.pids import is_alive
from stack.plan import Entry, Plan, RestartPolicy, read_plan, write_plan
from stack.processes import Process, process_env
from stack.supervisor import Supervisor, read_state
from tests.processes import free_port
from tests.topic_cleanup import ensure_topics

# Fast enough for a test, slow enough to see the backoff grow between two quick deaths.
FAST_POLICY = RestartPolicy(backoff_initial_s=0.3, backoff_max_s=2.0, stable_after_s=30.0)
WAIT_S = 30.0


def web_process(port: int, name: str = "web") -> Process:
    return Process(name, "http.server", ("--bind", "127.0.0.1", str(port)), port=port, health_path="/")


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s}s: {what}")
        time.sleep(0.05)


def healthy_pid(process: Process, run_dir: Path) -> int | None:
    pid = launcher.process_pid(process, run_dir)
    return pid if pid is not None and launcher.is_healthy(process, run_dir, pid) else None


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    # Whatever a failed test left running is stopped here, by its pid files only.
    supervision.stop_supervisor(tmp_path)
    for pid_file in tmp_path.glob("*.pid"):
        pid = int(pid_file.read_text().split()[0])
        if is_alive(pid):
            os.killpg(pid, signal.SIGKILL)


def test_a_killed_process_comes_back_healthy_and_is_counted(run_dir: Path) -> None:
    web = web_process(free_port())
    supervisor_pid = supervision.ensure_supervisor(run_dir, Plan((Entry(web, {}),), FAST_POLICY))
    assert supervisor_pid is not None
    wait_for(lambda: healthy_pid(web, run_dir) is not None, "web healthy")
    first_pid = healthy_pid(web, run_dir)
    assert first_pid is not None

    os.kill(first_pid, signal.SIGKILL)
    wait_for(lambda: healthy_pid(web, run_dir) not in (None, first_pid), "web restarted and healthy")

    state = read_state(run_dir)["processes"]["web"]
    assert state["restarts"] == 1
    assert state["last_exit"] == "was killed by SIGKILL"
    log = supervision.log_path(run_dir).read_text()
    assert f"web (pid {first_pid}) was killed by SIGKILL" in log
    assert "restart #1 in 0.3s" in log
    # A second supervisor is not started while one runs: `up` stays a no-op.
    assert supervision.ensure_supervisor(run_dir, Plan((Entry(web, {}),), FAST_POLICY)) is None
    assert supervision.supervisor_pid(run_dir) == supervisor_pid


def test_quick_deaths_back_off_exponentially_up_to_the_bound() -> None:
    policy = RestartPolicy(backoff_initial_s=0.5, backoff_max_s=30.0, stable_after_s=60.0)
    assert [policy.delay_s(n) for n in range(8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert policy.delay_s(10_000) == 30.0


def test_a_process_that_keeps_dying_is_retried_ever_more_slowly(run_dir: Path) -> None:
    web = web_process(free_port())
    clock = FakeClock()
    # Binary fractions, so the clock's steps add up exactly.
    policy = RestartPolicy(backoff_initial_s=0.25, backoff_max_s=2.0, stable_after_s=30.0)
    supervisor = Supervisor(Plan((Entry(web, {}),), policy), run_dir, clock)
    supervisor.start_all()
    try:
        delays = [kill_and_time_restart(supervisor, clock, web, run_dir) for _ in range(5)]
        assert delays == [0.25, 0.5, 1.0, 2.0, 2.0]
        # A run longer than `stable_after_s` was a healthy one: the backoff starts over.
        clock.now_s += policy.stable_after_s
        assert kill_and_time_restart(supervisor, clock, web, run_dir) == 0.25
        assert read_state(run_dir)["processes"]["web"]["restarts"] == 6
    finally:
        supervisor.stop_all()
    assert launcher.process_pid(web, run_dir) is None


def kill_and_time_restart(supervisor: Supervisor, clock: FakeClock, process: Process, run_dir: Path) -> float:
    """SIGKILL the process, then step the clock by 1/8 s until the supervisor starts it again."""
    pid = launcher.process_pid(process, run_dir)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not is_alive(pid), "child dead")
    supervisor.tick()
    killed_at_s = clock.now_s
    deadline_s = time.monotonic() + WAIT_S
    while launcher.process_pid(process, run_dir) in (None, pid):
        assert time.monotonic() < deadline_s, f"no restart after {clock.now_s - killed_at_s}s of supervisor time"
        clock.now_s += 0.125
        supervisor.tick()
    return clock.now_s - killed_at_s


class FakeClock:
    """The supervisor's clock, moved by the test, so backoff is checked without waiting for it."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def test_a_new_supervisor_adopts_processes_a_killed_one_left_running(run_dir: Path) -> None:
    web = web_process(free_port())
    plan = Plan((Entry(web, {}),), FAST_POLICY)
    first = supervision.ensure_supervisor(run_dir, plan)
    assert first is not None
    wait_for(lambda: healthy_pid(web, run_dir) is not None, "web healthy")
    web_pid = healthy_pid(web, run_dir)

    os.kill(first, signal.SIGKILL)
    wait_for(lambda: supervision.supervisor_pid(run_dir) is None, "supervisor gone")
    assert web_pid is not None and is_alive(web_pid), "the processes outlive their supervisor"

    second = supervision.ensure_supervisor(run_dir, plan)
    assert second is not None and second != first
    assert launcher.process_pid(web, run_dir) == web_pid, "adopted, not started twice"
    assert f"web: adopted the running process (pid {web_pid})" in supervision.log_path(run_dir).read_text()

    # An adopted process is not the supervisor's child, and is restarted all the same.
    os.kill(web_pid, signal.SIGKILL)
    wait_for(lambda: healthy_pid(web, run_dir) not in (None, web_pid), "adopted web restarted")


def test_stopping_the_supervisor_stops_everything_it_runs(run_dir: Path) -> None:
    processes = [web_process(free_port(), "web1"), web_process(free_port(), "web2")]
    supervisor_pid = supervision.ensure_supervisor(
        run_dir, Plan(tuple(Entry(process, {}) for process in processes), FAST_POLICY)
    )
    assert supervisor_pid is not None
    wait_for(lambda: all(healthy_pid(process, run_dir) for process in processes), "both healthy")
    pids = [launcher.process_pid(process, run_dir) for process in processes]

    assert supervision.stop_supervisor(run_dir)

    assert not is_alive(supervisor_pid)
    assert all(pid is not None and not is_alive(pid) for pid in pids), "nothing orphaned"
    assert not list(run_dir.glob("*.pid"))
    assert not supervision.stop_supervisor(run_dir), "a second stop finds nothing to stop"


async def test_a_sigkilled_ledger_comes_back_ready_under_the_supervisor(
    run_dir: Path, kafka: str, database_url: str, catalogue: Catalogue, catalogue_path: Path
) -> None:
    """The real ledger on the test Kafka and PostgreSQL, on topics of its own, supervised as `make up` does."""
    prefix = f"sup{uuid.uuid4().hex[:8]}."
    await ensure_topics(ServiceSettings(kafka_bootstrap_servers=kafka), topic_plan(catalogue, prefix))
    ledger = Process("ledger", "ledger", db_role="ledger")
    env = {
        **process_env(ledger, run_dir, kafka, database_url),
        "LUNTREX_TOPIC_PREFIX": prefix,
        "LUNTREX_LEDGER_APP_ID": f"{prefix}ledger",
        "LUNTREX_CATALOGUE_PATH": str(catalogue_path),
    }
    assert supervision.ensure_supervisor(run_dir, Plan((Entry(ledger, env),), FAST_POLICY)) is not None
    await asyncio.to_thread(wait_for, lambda: healthy_pid(ledger, run_dir) is not None, "ledger ready", 90.0)
    first_pid = healthy_pid(ledger, run_dir)
    assert first_pid is not None

    os.kill(first_pid, signal.SIGKILL)
    await asyncio.to_thread(
        wait_for, lambda: healthy_pid(ledger, run_dir) not in (None, first_pid), "ledger back and ready", 90.0
    )
    assert read_state(run_dir)["processes"]["ledger"]["restarts"] == 1

    assert supervision.stop_supervisor(run_dir)
    assert launcher.process_pid(ledger, run_dir) is None


def test_the_plan_round_trips_and_is_readable_by_its_owner_only(run_dir: Path) -> None:
    process = Process("ingress", "ingress", ("--port", "1"), port=1, health_path="/healthz", extra_env=(("A", "b"),))
    plan = Plan((Entry(process, {"LUNTREX_DATABASE_URL": "postgresql+psycopg://x@h/db"}),), FAST_POLICY)
    write_plan(run_dir, plan)
    assert read_plan(run_dir) == plan
    assert stat.S_IMODE((run_dir / "supervisor.plan.json").stat().st_mode) == 0o600
