"""Finance reads over HTTP on the running stack: balance summary, entries, statements (JSON and streamed CSV),
usage by day, top-ups and alerts, each scoped to the caller's workspace, and bad queries refused cleanly."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import thresholds, topups
from tests.conftest import make_workspace

HELLO = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 8, "tags": ["eval-7"]}


async def test_a_workspace_reads_its_own_books(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    other = await make_workspace(engine, tokens=0)
    async with engine.begin() as conn:
        await thresholds.add_alert_threshold(conn, workspace.id, kind="absolute", threshold_tokens=10_500)
        bought = await topups.request_topup(
            conn, topups.Finance(), workspace_id=workspace.id, amount_paisa=150, method="card", idempotency_key="e2e"
        )
    answers = [await client.post("/chat/completions", json=HELLO, headers=workspace.headers) for _ in range(3)]
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    cost = sum(a.json()["cost"] for a in answers)

    balance = (await client.get("/balance", headers=workspace.headers)).json()
    assert balance["balance_tokens"] == 10_000 + 750 - cost  # every field of before is still there
    assert {"available_tokens", "held_tokens", "spent_tokens", "credit_line_tokens", "tokens_per_bdt"} <= set(balance)
    assert balance["spent_today_tokens"] == balance["spent_this_month_tokens"] == cost
    assert balance["last_topup"]["id"] == bought.topup.id and balance["last_topup"]["tokens"] == 750
    assert balance["rate"]["tokens_per_bdt"] == "500" and balance["rate"]["scope"] == "platform"
    assert balance["auto_topup"] is None
    assert [(t["threshold_tokens"], t["armed"]) for t in balance["alert_thresholds"]] == [(10_500, True)]

    entries = (
        await client.get("/ledger/entries", params={"kind": "debit", "tag": "eval-7"}, headers=workspace.headers)
    ).json()
    assert len(entries["data"]) == 3 and entries["next_cursor"] is None
    # The calls named no model (the default, openai/gpt-4.1-mini); its alias finds the same entries and usage.
    for name in ("openai/gpt-4.1-mini", "gpt-4.1-mini"):
        by_model = await client.get(
            "/ledger/entries", params={"kind": "debit", "model": name}, headers=workspace.headers
        )
        assert len(by_model.json()["data"]) == 3, (name, by_model.text)
        usage_of = (await client.get("/usage", params={"model": name}, headers=workspace.headers)).json()
        assert usage_of["totals"]["cost_tokens"] == cost, (name, usage_of)
    # A key's entries are its jobs' holds as well as their debits (holds once named no key, so `key=` had none).
    by_key = (await client.get("/ledger/entries", params={"key": workspace.key_id}, headers=workspace.headers)).json()
    assert sorted(e["kind"] for e in by_key["data"]) == ["debit"] * 3 + ["hold"] * 3, by_key
    first_page = (await client.get("/ledger/entries", params={"limit": 2}, headers=workspace.headers)).json()
    rest = (
        await client.get("/ledger/entries", params={"cursor": first_page["next_cursor"]}, headers=workspace.headers)
    ).json()
    ids = [e["id"] for e in first_page["data"] + rest["data"]]
    assert len(ids) == len(set(ids)) == 1 + 1 + 3 * 2  # grant, top-up, a hold and a debit per call

    statement = (await client.get("/ledger/statement", headers=workspace.headers)).json()
    assert statement["opening_balance_tokens"] == 0 and statement["topups_tokens"] == 10_750
    assert statement["debits_tokens"] == cost and statement["closing_balance_tokens"] == balance["balance_tokens"]
    async with client.stream("GET", "/ledger/statement", params={"format": "csv"}, headers=workspace.headers) as got:
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
        text = "".join([chunk async for chunk in got.aiter_text()])
    rows = list(csv.reader(io.StringIO(text)))
    assert (
        rows[-1][-1] == str(balance["balance_tokens"])
        and len(
            rows[
                rows.index(
                    [
                        "entry_id",
                        "created_at",
                        "kind",
                        "job_id",
                        "model",
                        "api_key_id",
                        "delta_tokens",
                        "balance_tokens",
                    ]
                )
                + 1 :
            ]
        )
        == 5
    )

    usage = (await client.get("/ledger/usage", headers=workspace.headers)).json()["data"]
    assert [(u["tag"], u["jobs"], u["cost_tokens"], u["api_key_id"]) for u in usage] == [
        ("eval-7", 3, cost, workspace.key_id)
    ]
    listed = (await client.get("/topups", headers=workspace.headers)).json()["data"]
    assert [(t["id"], t["status"], t["amount_paisa"], t["tokens_per_bdt"]) for t in listed] == [
        (bought.topup.id, "succeeded", 150, "500")
    ]
    alerts = (await client.get("/alerts", headers=workspace.headers)).json()["data"]
    assert [a["type"] for a in alerts] == ["topup.succeeded"]

    # Another workspace sees none of it.
    assert (await client.get("/topups", headers=other.headers)).json()["data"] == []
    assert (await client.get("/alerts", headers=other.headers)).json()["data"] == []
    assert (await client.get("/ledger/entries", headers=other.headers)).json()["data"] == []


async def test_usage_without_tags_counts_a_job_with_several_tags_once(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    tagged = {**HELLO, "tags": ["a", "b", "<script>x</script>"]}
    untagged = {key: value for key, value in HELLO.items() if key != "tags"}
    answers = [
        await client.post("/chat/completions", json=body, headers=workspace.headers) for body in (tagged, untagged)
    ]
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    totals = (await client.get("/usage", headers=workspace.headers)).json()["totals"]
    assert totals["cost_tokens"] == sum(a.json()["cost"] for a in answers) and totals["jobs"] == 2

    each = (await client.get("/ledger/usage", headers=workspace.headers)).json()["data"]
    assert sorted(str(row["tag"]) for row in each) == ["<script>x</script>", "None", "a", "b"]
    assert sum(row["cost_tokens"] for row in each) > totals["cost_tokens"]  # the tagged job, once per tag
    once = (await client.get("/ledger/usage", params={"tags": "ignored"}, headers=workspace.headers)).json()["data"]
    assert {row["tag"] for row in once} == {None}
    for field in ("jobs", "input_tokens", "output_tokens", "cost_tokens"):
        assert sum(row[field] for row in once) == totals[field], field


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/ledger/entries", {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}),
        ("/ledger/entries", {"since": "2026-02-01T00:00:00"}),
        ("/ledger/entries", {"cursor": "not-a-cursor"}),
        ("/ledger/entries", {"cursor": "9" * 30}),
        ("/ledger/entries", {"tag": "a\x00b"}),
        ("/ledger/entries", {"kind": "teleport"}),
        ("/ledger/entries", {"limit": "100000"}),
        ("/ledger/entries", {"model": "m" * 500}),
        ("/ledger/statement", {"format": "pdf"}),
        ("/ledger/statement", {"since": "yesterday"}),
        # A time without a zone (it would be read in the database session's zone), or an empty period: on the
        # usage summary as on the ledger reads.
        ("/usage", {"since": "2026-12-01"}),
        ("/usage", {"until": "2026-12-01T00:00:00"}),
        ("/usage", {"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}),
        ("/ledger/usage", {"since": "2026-12-01"}),
        ("/ledger/usage", {"tags": "none"}),
        ("/ledger/usage", {"tags": "ignored\x00"}),
        ("/topups", {"cursor": "'; DROP TABLE topups; --"}),
        ("/alerts", {"limit": "-1"}),
    ],
)
async def test_bad_finance_queries_are_400_in_the_error_shape(
    client: httpx.AsyncClient, engine: AsyncEngine, path: str, params: dict[str, str]
) -> None:
    workspace = await make_workspace(engine, tokens=100)
    answer = await client.get(path, params=params, headers=workspace.headers)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["status"] == 400 and body["code"] == "invalid_request" and body["error"] and body["request_id"]
    other = await make_workspace(engine, tokens=1_000)
    assert (await client.post("/chat/completions", json=HELLO, headers=other.headers)).status_code == 200


async def test_finance_reads_need_a_key(client: httpx.AsyncClient) -> None:
    for path in ("/ledger/entries", "/ledger/statement", "/ledger/usage", "/topups", "/alerts"):
        assert (await client.get(path)).status_code == 401
