"""Rate limits and spend caps hold exactly across ingress replicas: two ingress processes, one ledger.

Requests are fired concurrently through both replicas; the ledger's admission (one owner per workspace) is the
only place that counts them, so the limit is exact, and every refused request is a 429 (or 403) in the error
shape with nothing held or charged. Every test ends with the whole book verifying (conftest's verified_book).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import ADMIN_KEY, Stack, Workspace, make_workspace
from tests.processes import Service, free_ports

HELLO = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
LIMIT = 4


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def replicas(stack: Stack) -> Iterator[tuple[str, str]]:
    workdir = Path(tempfile.mkdtemp(prefix="luntrex-limits-"))
    ports = free_ports(2)
    parts = [
        Service(f"ingress-{n}", ["ingress", "--port", str(port)], stack.ingress.env, workdir)
        for n, port in enumerate(ports)
    ]
    try:
        for part in parts:
            part.start()
        yield f"http://127.0.0.1:{ports[0]}/api/v1", f"http://127.0.0.1:{ports[1]}/api/v1"
    finally:
        for part in parts:
            part.stop()


@pytest.fixture
async def clients(replicas: tuple[str, str]) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    async with (
        httpx.AsyncClient(base_url=replicas[0], timeout=60) as one,
        httpx.AsyncClient(base_url=replicas[1], timeout=60) as two,
    ):
        yield one, two


async def early_in_a_minute() -> None:
    """Start a burst in the first half of a minute window, so the whole burst is counted in one window."""
    now = datetime.now(UTC)
    if not 1 <= now.second <= 30:
        await asyncio.sleep(61 - now.second - now.microsecond / 1e6)


async def burst(clients: tuple[httpx.AsyncClient, ...], key: str, count: int) -> list[httpx.Response]:
    return await asyncio.gather(
        *(clients[n % len(clients)].post("/chat/completions", json=HELLO, headers=bearer(key)) for n in range(count))
    )


async def key_jobs(engine: AsyncEngine, key_id: str) -> list[tuple[str, str, int, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT j.id, j.status, j.hold_tokens, "
                "(SELECT count(*) FROM journal_transactions t WHERE t.job_id = j.id) AS entries "
                "FROM jobs j WHERE j.api_key_id = :key"
            ),
            {"key": key_id},
        )
        return [(row.id, row.status, row.hold_tokens, row.entries) for row in rows]


def assert_refused_as_rate_limited(responses: list[httpx.Response]) -> None:
    for response in responses:
        body = response.json()
        assert set(body) >= {"error", "status", "code", "request_id"}, body
        assert (response.status_code, body["code"]) == (429, "rate_limit_exceeded"), body
        assert 1 <= body["retry_after"] <= 60 and response.headers["retry-after"] == str(body["retry_after"])


async def test_a_keys_rpm_holds_across_two_replicas(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], engine: AsyncEngine
) -> None:
    one, two = clients
    workspace = await make_workspace(engine, tokens=1_000_000)
    minted = await one.post("/keys", json={"name": "limited", "rpm_max": LIMIT}, headers=workspace.headers)
    assert minted.status_code == 201, minted.text
    await early_in_a_minute()
    responses = await burst(clients, minted.json()["key"], 3 * LIMIT)
    served = [r for r in responses if r.status_code == 200]
    assert len(served) == LIMIT, [r.text for r in responses if r.status_code != 200]
    assert_refused_as_rate_limited([r for r in responses if r.status_code != 200])
    jobs = await key_jobs(engine, minted.json()["id"])
    rejected = [job for job in jobs if job[1] == "rejected"]
    # Nothing held or charged for a refused request: no journal entry at all.
    assert len(rejected) == 2 * LIMIT and all(hold == 0 and entries == 0 for _, _, hold, entries in rejected)
    # The workspace's other keys are not limited by this key's limit.
    assert (await two.post("/chat/completions", json=HELLO, headers=workspace.headers)).status_code == 200


async def test_a_workspaces_rpm_counts_all_its_keys_across_two_replicas(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], engine: AsyncEngine
) -> None:
    one, _ = clients
    workspace = await make_workspace(engine, tokens=1_000_000)
    second = (await one.post("/keys", json={"name": "second"}, headers=workspace.headers)).json()["key"]
    patched = await one.patch(f"/admin/workspaces/{workspace.id}", json={"rpm_max": LIMIT}, headers=ADMIN)
    assert patched.status_code == 200, patched.text
    await early_in_a_minute()
    responses = [
        *await asyncio.gather(burst(clients, workspace.api_key, 3 * LIMIT // 2), burst(clients, second, 3 * LIMIT // 2))
    ]
    flat = [r for group in responses for r in group]
    assert sum(r.status_code == 200 for r in flat) == LIMIT
    assert_refused_as_rate_limited([r for r in flat if r.status_code != 200])
    async with engine.connect() as conn:
        spent = (
            await conn.execute(
                text("SELECT balance FROM ledger_accounts WHERE workspace_id = :ws AND kind = 'spent'"),
                {"ws": workspace.id},
            )
        ).scalar_one()
        charged = (
            await conn.execute(
                text(
                    "SELECT coalesce(sum(cost_tokens), 0) FROM jobs WHERE workspace_id = :ws AND status = 'completed'"
                ),
                {"ws": workspace.id},
            )
        ).scalar_one()
    assert spent == charged > 0


async def funded_with_a_hold_measured(client: httpx.AsyncClient, engine: AsyncEngine) -> tuple[Workspace, int]:
    """A well-funded workspace, and what one HELLO request holds, measured on its unlimited key."""
    workspace = await make_workspace(engine, tokens=1_000_000)
    assert (await client.post("/chat/completions", json=HELLO, headers=workspace.headers)).status_code == 200
    async with engine.connect() as conn:
        hold = (
            await conn.execute(text("SELECT max(hold_tokens) FROM jobs WHERE api_key_id = :k"), {"k": workspace.key_id})
        ).scalar_one()
    return workspace, int(hold)


async def test_racing_requests_never_overshoot_a_keys_daily_spend_cap(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], engine: AsyncEngine
) -> None:
    one, _ = clients
    workspace, hold = await funded_with_a_hold_measured(one, engine)
    cap = 3 * hold + hold // 2
    minted = await one.post("/keys", json={"name": "capped", "daily_spend_max_tokens": cap}, headers=workspace.headers)
    assert minted.status_code == 201, minted.text
    key = minted.json()["key"]
    responses = await burst(clients, key, 12)
    refused = [r for r in responses if r.status_code != 200]
    assert refused and all(r.status_code == 403 and r.json()["code"] == "spend_cap_reached" for r in refused)
    assert "daily spend cap" in refused[0].json()["error"]
    balance = (await one.get("/balance", headers=bearer(key))).json()["key_spend"]
    daily = balance["daily"]
    assert daily["cap_tokens"] == cap and 0 < daily["used_tokens"] <= cap
    assert daily["remaining_tokens"] == cap - daily["used_tokens"]
    assert balance["monthly"] == {"cap_tokens": None, "used_tokens": daily["used_tokens"], "remaining_tokens": None}


async def test_rotating_a_capped_key_never_resets_its_spend(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], engine: AsyncEngine
) -> None:
    # A successor started at 0 spent: rotating (60 a hour) gave a key a fresh daily budget each time. The chain
    # now shares one budget, the old key in its grace period included.
    one, two = clients
    workspace, hold = await funded_with_a_hold_measured(one, engine)
    cap = 6 * hold
    minted = await one.post("/keys", json={"name": "capped", "daily_spend_max_tokens": cap}, headers=workspace.headers)
    assert minted.status_code == 201, minted.text
    old = minted.json()
    for _ in range(2):
        assert (await one.post("/chat/completions", json=HELLO, headers=bearer(old["key"]))).status_code == 200
    spent_before = (await one.get("/balance", headers=bearer(old["key"]))).json()["key_spend"]["daily"]["used_tokens"]
    rotated = await one.post(f"/keys/{old['id']}/rotate", json={"grace_s": 300}, headers=workspace.headers)
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    daily = await one.get("/balance", headers=bearer(new["key"]))
    assert daily.json()["key_spend"]["daily"]["used_tokens"] == spent_before > 0, daily.text
    # Old and new take turns, through both replicas, until the chain's budget refuses both.
    answers = []
    for turn in range(40):
        key, client = (old["key"], one) if turn % 2 else (new["key"], two)
        answers.append(await client.post("/chat/completions", json=HELLO, headers=bearer(key)))
        if sum(a.status_code == 403 for a in answers[-2:]) == 2:
            break
    refused = [a for a in answers if a.status_code != 200]
    assert refused and all(a.json()["code"] == "spend_cap_reached" for a in refused), [a.text for a in refused]
    async with engine.connect() as conn:
        chain_spent = (
            await conn.execute(
                text("SELECT sum(cost_tokens) FROM jobs WHERE api_key_id = ANY(:keys)"),
                {"keys": [old["id"], new["id"]]},
            )
        ).scalar_one()
    assert 0 < chain_spent <= cap
    for key in (old["key"], new["key"]):
        shown = (await one.get("/balance", headers=bearer(key))).json()["key_spend"]["daily"]
        assert shown["used_tokens"] == chain_spent and shown["remaining_tokens"] == cap - chain_spent


async def test_a_rate_limited_request_retried_after_retry_after_with_its_idempotency_key_runs(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], engine: AsyncEngine
) -> None:
    """The 429 says when to retry; the same Idempotency-Key then runs the request instead of replaying the 429."""
    one, two = clients
    workspace = await make_workspace(engine, tokens=1_000_000)
    minted = (await one.post("/keys", json={"name": "one a minute", "rpm_max": 1}, headers=workspace.headers)).json()
    # Late in a minute, so the wait for the next window is short.
    now = datetime.now(UTC)
    if not 45 <= now.second <= 52:
        await asyncio.sleep((45 - now.second) % 60 - now.microsecond / 1e6 + 0.5)
    headers = bearer(minted["key"])
    assert (await one.post("/chat/completions", json=HELLO, headers=headers)).status_code == 200
    retried = {**headers, "Idempotency-Key": "limited-once"}
    refused = await two.post("/chat/completions", json=HELLO, headers=retried)
    assert_refused_as_rate_limited([refused])
    await asyncio.sleep(int(refused.headers["retry-after"]) + 0.5)
    again = await one.post("/chat/completions", json=HELLO, headers=retried)
    assert again.status_code == 200, again.text
    assert (await two.post("/chat/completions", json=HELLO, headers=retried)).json()["id"] == again.json()["id"]
