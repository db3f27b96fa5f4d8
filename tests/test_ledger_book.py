"""The book cannot be edited (migration 0005), and `ledger verify` / `luntrex ledger verify` catch a broken one.

Each forbidden edit is tried on the session database as the application's own role and must fail; then a
separate database is built, broken on purpose (as its owner, with the guard trigger disabled, which only DDL
rights allow), and verify must name the offending rows, in code and through the CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cli.main import main as luntrex
from ledger import driver, holds, journal, verify
from tests import services
from tests.conftest import make_workspace
from tests.ledger_checks import assert_books_balance, balances
from tests.services import ROOT


async def refused(engine: AsyncEngine, statement: str, params: dict[str, object], match: str) -> None:
    with pytest.raises(DBAPIError, match=match):
        async with engine.begin() as conn:
            await conn.execute(text(statement), params)


async def test_a_balance_cannot_be_updated_outside_the_journal(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=100)
    await refused(
        engine,
        "UPDATE ledger_accounts SET balance = balance + 1000 WHERE workspace_id = :ws AND kind = 'available'",
        {"ws": workspace.id},
        "changes only through journal postings",
    )
    assert (await balances(engine, workspace.id))["available"] == 100


async def test_an_account_cannot_open_with_a_balance_be_deleted_or_change_identity(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=100)
    await refused(
        engine,
        "INSERT INTO ledger_accounts (id, workspace_id, kind, balance, floor) VALUES (:id, :ws, 'held', 500, 0)",
        {"id": f"ws:{workspace.id}:extra", "ws": workspace.id},
        "must open at zero",
    )
    await refused(engine, "DELETE FROM ledger_accounts WHERE workspace_id = :ws", {"ws": workspace.id}, "deleted")
    await refused(
        engine,
        "UPDATE ledger_accounts SET kind = 'spent' WHERE workspace_id = :ws AND kind = 'available'",
        {"ws": workspace.id},
        "identity",
    )
    await assert_books_balance(engine)


async def test_floors_stay_changeable(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=100)
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE ledger_accounts SET floor = -50 WHERE workspace_id = :ws AND kind = 'available'"),
            {"ws": workspace.id},
        )
    async with engine.begin() as conn:
        admitted = await holds.admit(
            conn, holds.HoldRequest(f"job_{uuid.uuid4().hex}", workspace.id, "k", "m", 140, ())
        )
    assert admitted.admitted and (await balances(engine, workspace.id))["available"] == -40


@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE postings",
        "TRUNCATE journal_transactions CASCADE",
        "TRUNCATE ledger_accounts CASCADE",
        "TRUNCATE jobs, postings, journal_transactions",
    ],
)
async def test_the_journal_cannot_be_truncated(engine: AsyncEngine, statement: str) -> None:
    workspace = await make_workspace(engine, tokens=100)
    await refused(engine, statement, {}, "append-only")
    assert (await balances(engine, workspace.id))["available"] == 100


async def test_a_journal_transaction_without_postings_is_refused(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=1)
    await refused(
        engine,
        "INSERT INTO journal_transactions (idempotency_key, kind, workspace_id) VALUES (:key, 'empty', :ws)",
        {"key": f"empty:{uuid.uuid4().hex}", "ws": workspace.id},
        "has no postings",
    )


async def test_postings_alone_move_balances_set_based(engine: AsyncEngine) -> None:
    first, second = await make_workspace(engine, tokens=0), await make_workspace(engine, tokens=0)
    entries = [
        journal.Entry(f"grant:{ws}:{n}", "grant", ws, None, journal.domain.grant_postings(ws, 10 * n))
        for ws in (first.id, second.id)
        for n in (1, 2, 3)
    ]
    async with engine.begin() as conn:
        await journal.lock_accounts(conn, {first.id, second.id})
        assert await journal.record_entries(conn, entries) == 6
    async with engine.begin() as conn:
        assert await journal.record_entries(conn, entries) == 0
    for ws in (first.id, second.id):
        assert await balances(engine, ws) == {"available": 60, "held": 0, "spent": 0, "funding": -60}
    assert await verify.verify_database(engine) == []


@pytest.fixture(scope="module")
def broken_database_url() -> Iterator[str]:
    url = services.create_database()
    yield url
    services.drop_database(url)


@pytest.fixture(scope="module")
async def broken_book(broken_database_url: str) -> dict[str, str]:
    """A book with one drifted balance (forged as the owner) and three impossible jobs."""
    engine = create_async_engine(broken_database_url)
    ids = {"workspace": f"ws_{uuid.uuid4().hex[:8]}", "completed": "job_never_debited", "queued": "job_never_held"}
    async with engine.begin() as conn:
        await journal.create_workspace(conn, ids["workspace"], name="broken")
        await journal.grant(conn, ids["workspace"], 100, idempotency_key="grant:broken")
    async with engine.begin() as conn:
        await conn.execute(text("ALTER TABLE ledger_accounts DISABLE TRIGGER ledger_accounts_guard"))
        await conn.execute(
            text("UPDATE ledger_accounts SET balance = 1000000 WHERE id = :id"),
            {"id": f"ws:{ids['workspace']}:available"},
        )
        await conn.execute(text("ALTER TABLE ledger_accounts ENABLE TRIGGER ledger_accounts_guard"))
        await conn.execute(
            text(
                "INSERT INTO jobs (id, workspace_id, api_key_id, model_id, status, hold_tokens, cost_tokens) VALUES "
                "(:completed, :ws, 'k', 'm', 'completed', 50, 50), (:queued, :ws, 'k', 'm', 'queued', 50, 0), "
                "('job_failed_but_charged', :ws, 'k', 'm', 'failed', 0, 7)"
            ),
            {"completed": ids["completed"], "queued": ids["queued"], "ws": ids["workspace"]},
        )
    await engine.dispose()
    return ids


async def test_verify_names_every_offending_row(broken_database_url: str, broken_book: dict[str, str]) -> None:
    engine = create_async_engine(broken_database_url)
    try:
        found = {v.rule: v.rows for v in await verify.verify_database(engine)}
    finally:
        await engine.dispose()

    assert set(found) == {
        "balance_differs_from_postings",
        "completed_job_not_debited_once",
        "queued_job_without_one_hold",
        "unfinished_job_debited",
    }
    assert found["balance_differs_from_postings"] == [
        {"account_id": f"ws:{broken_book['workspace']}:available", "balance": 1_000_000, "posted": 100}
    ]
    assert [row["job_id"] for row in found["completed_job_not_debited_once"]] == [broken_book["completed"]]
    assert [row["job_id"] for row in found["queued_job_without_one_hold"]] == [broken_book["queued"]]
    assert [row["job_id"] for row in found["unfinished_job_debited"]] == ["job_failed_but_charged"]


def test_the_cli_exits_non_zero_and_prints_the_offending_rows(
    broken_database_url: str, broken_book: dict[str, str]
) -> None:
    result = CliRunner().invoke(luntrex, ["ledger", "verify", "--database-url", broken_database_url])

    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["ok"] is False
    rows = {v["rule"]: v["rows"] for v in report["violations"]}
    assert rows["completed_job_not_debited_once"][0]["job_id"] == broken_book["completed"]
    assert rows["balance_differs_from_postings"][0]["balance"] == 1_000_000


def test_the_cli_passes_a_sound_book_read_from_the_stack_env_file(database_url: str, tmp_path: Path) -> None:
    env_file = tmp_path / "stack.env"
    env_file.write_text(f"KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:1\nDATABASE_URL={database_url}\n")
    # The console script's own entry point, in a fresh process, as an operator would run it.
    done = subprocess.run(
        [sys.executable, "-c", "from cli.main import main; main()", "ledger", "verify", "--env-file", env_file],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == {"ok": True, "violations": []}


def test_the_cli_says_what_is_missing_without_a_stack() -> None:
    result = CliRunner().invoke(luntrex, ["ledger", "verify", "--env-file", "/nonexistent/stack.env"])

    assert result.exit_code == 2
    assert "/nonexistent/stack.env" in result.output and "make up" in result.output


def test_the_console_script_is_declared() -> None:
    assert 'luntrex = "cli.main:main"' in (ROOT / "pyproject.toml").read_text()


async def test_the_double_entry_checks_run_once_per_statement_and_never_scan_the_book(engine: AsyncEngine) -> None:
    """Once per row at commit they cost a quarter of each entry, under the accounts' locks (migration 0026); planned
    while `postings` looked small, a lookup by transaction once scanned the whole book at every call (0022)."""
    async with engine.connect() as conn:
        triggers = (
            await conn.execute(
                text(
                    "SELECT t.tgname, t.tgtype & 1 = 1 AS per_row, t.tgdeferrable, p.proconfig FROM pg_trigger t "
                    "JOIN pg_proc p ON p.oid = t.tgfoid "
                    "WHERE t.tgname IN ('postings_balanced', 'journal_transactions_not_empty')"
                )
            )
        ).all()
    assert sorted(tuple(row) for row in triggers) == [
        ("journal_transactions_not_empty", False, False, ["enable_seqscan=off"]),
        # It reads only the statement's own postings (its transition table), never `postings`.
        ("postings_balanced", False, False, None),
    ]


_FORGED_STATEMENT = "WITH " + journal.ENTRY_CTES + "SELECT " + journal.ENTRY_COUNTS


def _forged_params(entries: list[tuple[str, str, list[tuple[str, int]]]]) -> dict[str, str]:
    """ENTRY_CTES' parameters for (key, workspace, legs) as a buggy writer might send them: nothing checked."""
    return {
        "entries": json.dumps(
            [{"idempotency_key": key, "kind": "forged", "workspace_id": ws, "job_id": None} for key, ws, _ in entries]
        ),
        "legs": json.dumps(
            [{"idempotency_key": key, "account_id": a, "amount": n} for key, _, legs in entries for a, n in legs]
        ),
    }


async def test_one_unbalanced_entry_refuses_its_whole_statement_and_replays_still_record_once(
    engine: AsyncEngine,
) -> None:
    workspace = await make_workspace(engine, tokens=100)
    available, funding = f"ws:{workspace.id}:available", f"ws:{workspace.id}:funding"
    replayed = (f"forged:{uuid.uuid4().hex}", workspace.id, [(funding, -7), (available, 7)])
    async with engine.begin() as conn:
        await driver.fetch(conn, _FORGED_STATEMENT, _forged_params([replayed]))
    fresh = [(f"forged:{uuid.uuid4().hex}", workspace.id, [(funding, -n), (available, n)]) for n in (1, 2, 3)]
    broken = (f"forged:{uuid.uuid4().hex}", workspace.id, [(funding, -5), (available, 6)])
    with pytest.raises(DBAPIError, match="unbalanced"):
        async with engine.begin() as conn:
            await driver.fetch(conn, _FORGED_STATEMENT, _forged_params([replayed, *fresh, broken]))
    # Nothing of the refused statement stays: not the balanced entries beside the broken one, not a replay.
    assert (await balances(engine, workspace.id))["available"] == 107
    async with engine.begin() as conn:
        [counts] = await driver.fetch(conn, _FORGED_STATEMENT, _forged_params([replayed, *fresh]))
    assert (counts["entries"], counts["legs"]) == (3, 6)
    assert (await balances(engine, workspace.id))["available"] == 113
    await assert_books_balance(engine)
    assert await verify.verify_database(engine) == []


async def test_a_leg_added_later_to_a_balanced_transaction_is_refused(engine: AsyncEngine) -> None:
    """Postings are checked per statement: a transaction balanced when written cannot be tipped by a later insert."""
    workspace = await make_workspace(engine, tokens=10)
    async with engine.connect() as conn:
        txn = (
            await conn.execute(
                text("SELECT id FROM journal_transactions WHERE workspace_id = :ws ORDER BY id LIMIT 1"),
                {"ws": workspace.id},
            )
        ).scalar_one()
    await refused(
        engine,
        "INSERT INTO postings (transaction_id, account_id, amount) VALUES (:txn, :account, 5)",
        {"txn": txn, "account": f"ws:{workspace.id}:available"},
        "unbalanced",
    )
    assert (await balances(engine, workspace.id))["available"] == 10
    await assert_books_balance(engine)
