"""Each service connects to PostgreSQL as its own role, and the grants enforce who writes what.

The ingress must never move money: as `luntrex_ingress` it cannot change a balance, post to the journal or
touch a job's hold, whatever code runs in it. The ledger cannot mint API keys. Both still do their own work,
which the rest of the suite proves, since the test stack runs every service under its role.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.db_roles import TABLE_OWNERS, UnclassifiedTableError, libpq_url, plan_grants, role_url
from stack.processes import PROCESSES, process_env
from tests.conftest import Stack, make_workspace


@pytest.fixture
def as_ingress(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(libpq_url(role_url(database_url, "ingress"))) as conn:
        yield conn


@pytest.fixture
def as_ledger(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(libpq_url(role_url(database_url, "ledger"))) as conn:
        yield conn


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_accounts SET balance = balance + 1000000",
        "INSERT INTO journal_transactions (idempotency_key, kind) VALUES ('stolen', 'topup')",
        "DELETE FROM postings",
        "UPDATE jobs SET status = 'completed'",
        "UPDATE workspaces SET credit_line_tokens = 1000000000",
        "INSERT INTO topups (id) VALUES ('forged')",
    ],
)
def test_the_ingress_role_cannot_move_money(as_ingress: psycopg.Connection[tuple[object, ...]], statement: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_ingress.execute(statement)


def test_the_ingress_role_reads_the_book_and_writes_its_own_tables(
    as_ingress: psycopg.Connection[tuple[object, ...]],
) -> None:
    as_ingress.execute("SELECT count(*) FROM ledger_accounts").fetchone()
    as_ingress.execute("SELECT count(*) FROM postings").fetchone()
    # Writes inside a rolled-back transaction: the privilege is checked, nothing is left behind.
    as_ingress.execute("UPDATE accepted_jobs SET job_id = job_id WHERE false")
    as_ingress.execute("UPDATE idempotency_keys SET workspace_id = workspace_id WHERE false")
    as_ingress.execute("UPDATE api_keys SET name = name WHERE false")
    as_ingress.rollback()


def test_the_ledger_role_cannot_mint_keys_or_read_the_ingress_outbox(
    as_ledger: psycopg.Connection[tuple[object, ...]],
) -> None:
    as_ledger.execute("SELECT count(*) FROM api_keys").fetchone()  # it reads a key's limits
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_ledger.execute("UPDATE api_keys SET revoked_at = now()")
    as_ledger.rollback()
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_ledger.execute("SELECT * FROM accepted_jobs")


def test_neither_service_can_rewrite_the_schema_version(
    as_ingress: psycopg.Connection[tuple[object, ...]], as_ledger: psycopg.Connection[tuple[object, ...]]
) -> None:
    for conn in (as_ingress, as_ledger):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE alembic_version SET version_num = 'x'")
        conn.rollback()


def test_every_table_of_the_migrated_schema_has_an_owning_service(database_url: str) -> None:
    with psycopg.connect(libpq_url(database_url)) as conn:
        tables = {str(row[0]) for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables <= set(TABLE_OWNERS), "tables no service owns: " + ", ".join(sorted(tables - set(TABLE_OWNERS)))


def test_a_new_table_without_an_owner_is_refused() -> None:
    with pytest.raises(UnclassifiedTableError, match="shiny_new_table"):
        plan_grants(["jobs", "shiny_new_table"])


async def test_the_running_services_connect_as_their_own_roles(
    stack: Stack, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    answer = await client.post(
        "/chat/completions",
        headers=workspace.headers,
        json={"messages": [{"role": "user", "content": "who am I connected as?"}], "max_tokens": 8},
    )
    assert answer.status_code == 200, answer.text
    database = stack.database_url.rsplit("/", 1)[1]
    with psycopg.connect(libpq_url(stack.database_url)) as conn:
        users = {
            str(row[0])
            for row in conn.execute("SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = %s", (database,))
        }
    assert {"luntrex_ingress", "luntrex_ledger"} <= users


def test_make_up_gives_each_process_its_role_and_the_workers_no_database(tmp_path: Path) -> None:
    owner = "postgresql+psycopg://luntrex@127.0.0.1:5433/luntrex"
    urls = {p.name: process_env(p, tmp_path, "k:9092", owner).get("LUNTREX_DATABASE_URL") for p in PROCESSES}
    assert urls["ingress"] == "postgresql+psycopg://luntrex_ingress@127.0.0.1:5433/luntrex"
    assert urls["ledger"] == "postgresql+psycopg://luntrex_ledger@127.0.0.1:5433/luntrex"
    assert urls["workers"] is None
    assert urls["fakeprovider"] is None
