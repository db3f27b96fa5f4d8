"""Failover on the cluster profile: a broker, a ledger and a worker SIGKILLed under load, then brought back.

Three real brokers (replication factor 3, min.insync.replicas 2) and two replicas of each service under the
stack's supervisor. Clients send a steady load, each request with its own Idempotency-Key, and retry a
failed attempt with the same key as the README tells them to. Meanwhile: kill -9 of one broker, its
restart, then kill -9 of one ledger and one worker process, which the supervisor restarts. Then every
accepted job must end in one terminal state, every request be billed at most once, every request answered
200 be billed exactly once, and the whole book verify (balances equal the sums of their postings). The
client-visible error window of each fault is printed and written to ``cluster_failover.json`` in the run
directory (its path is printed).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import verify
from stack.pids import tail
from tests.cluster import ClusterStack, start_cluster_stack, stop_cluster_stack
from tests.conftest import Workspace, make_workspace

# A ceiling for a machine far busier than CI; the test takes about 3 minutes.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CLIENTS = 6
GRANT_TOKENS = 50_000_000
# Generous bounds: two shared cores, three JVMs and seven Python processes.
REQUEST_GIVE_UP_S = 90.0
RETRY_PAUSE_S = 0.25
PHASE_S = 8.0
RESTARTED_BOUND_S = 90.0
DRAIN_BOUND_S = 120.0
TERMINAL = ("completed", "failed", "rejected", "expired")
RESTARTED = ("ledger-1", "workers-1")


@dataclass
class Attempt:
    at_s: float
    outcome: str  # "200", "202", or the error: a status or a transport error's class name


@dataclass
class Request:
    key: str
    started_s: float
    attempts: list[Attempt] = field(default_factory=list)
    job_id: str | None = None
    status: int | None = None
    finished_s: float | None = None


@dataclass
class Load:
    client: httpx.AsyncClient
    workspace: Workspace
    started: float = field(default_factory=time.monotonic)
    requests: list[Request] = field(default_factory=list)
    faults: list[tuple[str, float]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def now_s(self) -> float:
        return time.monotonic() - self.started

    def mark(self, fault: str) -> None:
        self.faults.append((fault, self.now_s()))
        print(f"failover: {self.now_s():6.1f}s {fault}", flush=True)

    async def client_loop(self, index: int) -> None:
        n = 0
        while not self.stop.is_set():
            await self.one(f"failover-{index}-{n}-{uuid.uuid4().hex[:6]}", n)
            n += 1

    async def one(self, key: str, n: int) -> None:
        """One logical request: retried with the same key until it is answered 200 or 202."""
        request = Request(key=key, started_s=self.now_s())
        self.requests.append(request)
        body = {"messages": [{"role": "user", "content": f"failover {key} {n}"}], "max_tokens": 32}
        headers = {**self.workspace.headers, "Idempotency-Key": key, "Prefer": "wait=30"}
        while self.now_s() - request.started_s < REQUEST_GIVE_UP_S:
            try:
                response = await self.client.post("/chat/completions", json=body, headers=headers)
            except httpx.TransportError as error:
                request.attempts.append(Attempt(self.now_s(), type(error).__name__))
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            request.attempts.append(Attempt(self.now_s(), str(response.status_code)))
            if response.status_code in (200, 202):
                request.job_id, request.status = response.json()["id"], response.status_code
                request.finished_s = self.now_s()
                return
            assert response.status_code >= 500 or response.status_code == 429, response.text
            await asyncio.sleep(RETRY_PAUSE_S)


def error_windows(load: Load) -> dict[str, object]:
    """Per fault, until the next one: the failed attempts and the span clients saw them in; the answers of
    requests in flight meanwhile (started before the fault included) and the longest time without any."""
    # The last mark ("load stopped") only ends the phase before it.
    bounds = load.faults
    report: dict[str, object] = {}
    for (fault, at_s), (_next, until_s) in itertools.pairwise(bounds):
        errors = [
            attempt
            for request in load.requests
            for attempt in request.attempts
            if attempt.outcome not in ("200", "202") and at_s <= attempt.at_s < until_s
        ]
        in_flight = [
            request
            for request in load.requests
            if request.finished_s is not None and request.started_s < until_s and request.finished_s >= at_s
        ]
        latencies = sorted(request.finished_s - request.started_s for request in in_flight if request.finished_s)
        answers = sorted([at_s, *(r.finished_s for r in in_flight if r.finished_s and r.finished_s < until_s), until_s])
        report[fault] = {
            "at_s": round(at_s, 2),
            "failed_attempts": len(errors),
            "error_kinds": sorted({attempt.outcome for attempt in errors}),
            "first_error_after_s": round(min(a.at_s for a in errors) - at_s, 2) if errors else None,
            "error_window_s": round(max(a.at_s for a in errors) - min(a.at_s for a in errors), 2) if errors else 0.0,
            "requests_answered": len(latencies),
            "answer_latency_p50_s": round(latencies[len(latencies) // 2], 2) if latencies else None,
            "answer_latency_max_s": round(latencies[-1], 2) if latencies else None,
            # The longest stretch in which no client got any answer: a stall is client-visible too.
            "no_answer_gap_max_s": round(max(b - a for a, b in itertools.pairwise(answers)), 2),
        }
    return report


async def run_faults(load: Load, stack: ClusterStack) -> None:
    """The scenario; every step marked on the load's clock."""
    await asyncio.sleep(PHASE_S)
    load.mark("kill -9 kafka-2")
    stack.kill_broker(2)
    await asyncio.sleep(PHASE_S * 1.5)
    load.mark("restart kafka-2")
    await asyncio.to_thread(stack.start_broker, 2)
    load.mark("kafka-2 answers again")
    await asyncio.sleep(PHASE_S)
    load.mark("kill -9 ledger-1 and workers-1")
    killed = {name: stack.kill(name) for name in RESTARTED}
    deadline = time.monotonic() + RESTARTED_BOUND_S
    while not await asyncio.to_thread(stack.restarted, killed):
        assert time.monotonic() < deadline, f"the supervisor did not bring {sorted(killed)} back"
        await asyncio.sleep(0.5)
    load.mark("ledger-1 and workers-1 restarted and ready")
    await asyncio.sleep(PHASE_S)
    load.mark("load stopped")


async def wait_terminal(engine: AsyncEngine, workspace_id: str) -> dict[str, int]:
    deadline = time.monotonic() + DRAIN_BOUND_S
    while True:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT status, count(*) FROM jobs WHERE workspace_id = :ws GROUP BY status"),
                    {"ws": workspace_id},
                )
            ).all()
        counts = {row[0]: row[1] for row in rows}
        if set(counts) <= set(TERMINAL) or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(1.0)


async def test_a_broker_a_ledger_and_a_worker_killed_under_load_lose_nothing_and_bill_once(
    engine: AsyncEngine, database_url: str
) -> None:
    run_dir = Path(tempfile.mkdtemp(prefix="luntrex-cluster-"))
    # The default catalogue routes every model to the fake provider; the expiry sweep runs often so a job
    # stranded by a fault could not hide behind the 30 s default.
    extra_env = {"LUNTREX_EXPIRY_SWEEP_INTERVAL_S": "5"}
    stack = await asyncio.to_thread(start_cluster_stack, run_dir, database_url, extra_env)
    try:
        await fail_over_under_load(engine, stack)
    finally:
        await asyncio.to_thread(stop_cluster_stack, stack)


async def fail_over_under_load(engine: AsyncEngine, stack: ClusterStack) -> None:
    workspace = await make_workspace(engine, tokens=GRANT_TOKENS)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=45) as client:
        load = Load(client, workspace)
        clients = [asyncio.create_task(load.client_loop(index)) for index in range(CLIENTS)]
        try:
            await run_faults(load, stack)
        finally:
            load.stop.set()
            await asyncio.gather(*clients)
    counts = await wait_terminal(engine, workspace.id)
    report = {
        "clients": CLIENTS,
        "requests": len(load.requests),
        "answered_200": sum(1 for r in load.requests if r.status == 200),
        "answered_202": sum(1 for r in load.requests if r.status == 202),
        "failed_attempts": sum(1 for r in load.requests for a in r.attempts if a.outcome not in ("200", "202")),
        "jobs_by_status": counts,
        "faults": error_windows(load),
    }
    report_path = stack.run_dir / "cluster_failover.json"
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"cluster failover report ({report_path}):\n{json.dumps(report, indent=2)}")
    logs = "\n".join(
        f"--- {name}\n{tail(stack.run_dir / 'logs' / f'{name}.log', 15)}"
        for name in ("supervisor", "ledger-1", "kafka-2")
    )
    unanswered = [asdict(r) for r in load.requests if r.status is None]
    assert not unanswered, f"requests never accepted after {REQUEST_GIVE_UP_S}s: {unanswered[:3]}\n{logs}"
    assert set(counts) <= set(TERMINAL), f"jobs not terminal after {DRAIN_BOUND_S}s: {counts}\n{logs}"
    await assert_each_request_billed_once(engine, workspace.id, load)
    violations = await verify.verify_database(engine)
    assert not violations, f"the book does not verify: {violations}"


async def assert_each_request_billed_once(engine: AsyncEngine, workspace_id: str, load: Load) -> None:
    """Every key names one job; no completed job outside the keys (a request billed twice); 200 = completed."""
    async with engine.connect() as conn:
        named = dict(
            (
                await conn.execute(
                    text(
                        "SELECT k.key, j.status FROM idempotency_keys k JOIN jobs j ON j.id = k.job_id "
                        "WHERE k.workspace_id = :ws"
                    ),
                    {"ws": workspace_id},
                )
            ).all()
        )
        orphans = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM jobs WHERE workspace_id = :ws AND status = 'completed' AND id NOT IN "
                    "(SELECT job_id FROM idempotency_keys WHERE workspace_id = :ws)"
                ),
                {"ws": workspace_id},
            )
        ).scalar_one()
        spent = (
            await conn.execute(
                text(
                    "SELECT (SELECT coalesce(sum(cost_tokens), 0) FROM jobs WHERE workspace_id = :ws), "
                    "(SELECT balance FROM ledger_accounts WHERE workspace_id = :ws AND kind = 'spent')"
                ),
                {"ws": workspace_id},
            )
        ).one()
    assert len(named) == len(load.requests), "a request's key names no job"
    assert orphans == 0, f"{orphans} completed jobs are not the job of any request's key: billed twice"
    answered_200 = [request for request in load.requests if request.status == 200]
    assert all(named[request.key] == "completed" for request in answered_200)
    assert spent[0] == spent[1], f"jobs cost {spent[0]} but the spent account holds {spent[1]}"
