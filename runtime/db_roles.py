"""Per-service PostgreSQL roles: which tables each service may write or read, and the grants that enforce it.

The ledger is the only writer of money; the ingress writes its own tables (the outbox, idempotency records,
API keys) and reads the book to answer queries. Ownership used to be a convention checked by import
contracts only; here it becomes the database's own rule: each service connects as its role, and a statement
outside its grants fails with `permission denied` instead of quietly moving money.

`python -m runtime.db_roles --database-url URL` runs as the tables' owner after the migrations: it creates
the roles when missing (the owner needs CREATEROLE), then revokes and re-grants every table, so a table
moved from one service to another loses its old grants. Every table must be classified in `TABLE_OWNERS`:
a new table that is not refuses to be granted, so nobody forgets to decide who writes it.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import psycopg
from psycopg import sql
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from runtime.settings import ServiceSettings

Service = Literal["ingress", "ledger"]

ROLE_PREFIX = "luntrex_"
SERVICES: tuple[Service, ...] = ("ingress", "ledger")

# Who writes each table. The other service reads it (the ingress answers queries from the book; the ledger
# reads a key's limits), except tables listed in PRIVATE_TABLES.
TABLE_OWNERS: Mapping[str, Service] = {
    # Ingress: what it accepted and the keys it mints.
    "accepted_jobs": "ingress",
    "idempotency_keys": "ingress",
    "api_keys": "ingress",
    # Ledger: the book of record and everything that moves money or depends on it.
    "workspaces": "ledger",
    "ledger_accounts": "ledger",
    "journal_transactions": "ledger",
    "postings": "ledger",
    "jobs": "ledger",
    "exchange_rates": "ledger",
    "price_versions": "ledger",
    "topups": "ledger",
    "invoices": "ledger",
    "auto_topups": "ledger",
    "alert_thresholds": "ledger",
    "finance_events": "ledger",
    "webhook_endpoints": "ledger",
    "webhook_deliveries": "ledger",
    "webhook_attempts": "ledger",
    # Batches: the ingress stores what was uploaded; the ledger's feeder tracks each batch's progress.
    "batch_files": "ingress",
    "batch_file_chunks": "ingress",
    "batches": "ingress",
    "batch_lines": "ingress",
    "batch_feeds": "ledger",
    # Kept by a trigger on `jobs`, so by whoever writes jobs (migration 0027).
    "batch_tallies": "ledger",
    "rate_windows": "ledger",
    # Alembic's bookkeeping: only the owner (migrations) writes it; services may read their schema version.
    "alembic_version": "ledger",
}

# Writes a service may make on the other's tables, beyond reading them: the ledger's result retention deletes
# batches past their retention (their lines go with them, by cascade).
EXTRA_PRIVILEGES: Mapping[tuple[str, Service], tuple[str, ...]] = {("batches", "ledger"): ("DELETE",)}

# Tables the non-owning service has no business reading at all.
PRIVATE_TABLES: frozenset[str] = frozenset({"accepted_jobs", "idempotency_keys"})

WRITE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
# Migrations own alembic_version: a service reading it is fine, writing it is not.
READ_ONLY_FOR_OWNER: frozenset[str] = frozenset({"alembic_version"})


class RolePasswords(BaseSettings):
    """Passwords for the service roles where the database asks for one (the container deployment); unset, a
    role keeps whatever authentication it has (the local cluster trusts them on loopback)."""

    model_config = SettingsConfigDict(env_prefix="LUNTREX_DB_", extra="ignore")
    ingress_password: SecretStr | None = None
    ledger_password: SecretStr | None = None

    def for_service(self, service: Service) -> SecretStr | None:
        return self.ingress_password if service == "ingress" else self.ledger_password


class UnclassifiedTableError(RuntimeError):
    """A table exists that `TABLE_OWNERS` does not name: decide which service writes it."""


@dataclass(frozen=True, slots=True)
class TableGrant:
    table: str
    role: str
    privileges: tuple[str, ...]


def role_name(service: Service) -> str:
    return f"{ROLE_PREFIX}{service}"


def role_url(database_url: str, service: Service) -> str:
    """The same database, connected as ``service``'s role (user replaced, password dropped: the local
    cluster trusts these roles on loopback; a deployment passes its own URLs instead)."""
    scheme, rest = database_url.split("://", 1)
    location = rest.rsplit("@", 1)[-1]
    return f"{scheme}://{role_name(service)}@{location}"


def plan_grants(tables: list[str]) -> list[TableGrant]:
    """The grants for ``tables``; raises when one of them has no owner in `TABLE_OWNERS`."""
    unknown = sorted(set(tables) - set(TABLE_OWNERS))
    if unknown:
        raise UnclassifiedTableError(
            f"tables with no owning service in runtime/db_roles.py TABLE_OWNERS: {', '.join(unknown)}"
        )
    grants: list[TableGrant] = []
    for table in sorted(tables):
        owner = TABLE_OWNERS[table]
        owner_privileges = ("SELECT",) if table in READ_ONLY_FOR_OWNER else WRITE_PRIVILEGES
        grants.append(TableGrant(table, role_name(owner), owner_privileges))
        if table not in PRIVATE_TABLES:
            for reader in SERVICES:
                if reader != owner:
                    extra = EXTRA_PRIVILEGES.get((table, reader), ())
                    grants.append(TableGrant(table, role_name(reader), ("SELECT", *extra)))
    return grants


def apply(conn: psycopg.Connection[tuple[object, ...]], passwords: RolePasswords | None = None) -> list[TableGrant]:
    """Create the roles if missing and make their table grants exactly `plan_grants` (autocommit off: one
    transaction, so a service never sees half the grants)."""
    tables = [row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    grants = plan_grants([str(table) for table in tables])
    database = conn.execute("SELECT current_database()").fetchone()
    if database is None:
        raise RuntimeError("current_database() answered no row")
    for service in SERVICES:
        role = sql.Identifier(role_name(service))
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role_name(service),)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOINHERIT").format(role))
        password = passwords.for_service(service) if passwords is not None else None
        if password is not None:
            secret = sql.Literal(password.get_secret_value())
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(role, secret))
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(str(database[0])), role))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role))
        conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(role))
        conn.execute(sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {}").format(role))
    for grant in grants:
        privileges = sql.SQL(", ").join(sql.SQL(privilege) for privilege in grant.privileges)
        conn.execute(
            sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                privileges, sql.Identifier(grant.table), sql.Identifier(grant.role)
            )
        )
    _grant_sequences(conn, grants)
    return grants


def _grant_sequences(conn: psycopg.Connection[tuple[object, ...]], grants: list[TableGrant]) -> None:
    """A writer of a table with a serial/identity column needs its sequence (INSERT draws from it)."""
    writers = {grant.table: grant.role for grant in grants if "INSERT" in grant.privileges}
    rows = conn.execute(
        """
        SELECT table_class.relname, sequence_class.relname
        FROM pg_depend dependency
        JOIN pg_class sequence_class ON sequence_class.oid = dependency.objid AND sequence_class.relkind = 'S'
        JOIN pg_class table_class ON table_class.oid = dependency.refobjid
        JOIN pg_namespace namespace ON namespace.oid = sequence_class.relnamespace
        WHERE namespace.nspname = 'public' AND dependency.deptype IN ('a', 'i')
        """
    ).fetchall()
    for table, sequence in rows:
        role = writers.get(str(table))
        if role is not None:
            conn.execute(
                sql.SQL("GRANT USAGE, SELECT ON SEQUENCE {} TO {}").format(
                    sql.Identifier(str(sequence)), sql.Identifier(role)
                )
            )


def libpq_url(database_url: str) -> str:
    return database_url.replace("postgresql+psycopg://", "postgresql://", 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", help="the tables' owner (default: settings, LUNTREX_DATABASE_URL)")
    args = parser.parse_args()
    database_url = args.database_url or ServiceSettings().database_url
    with psycopg.connect(libpq_url(database_url)) as conn:
        grants = apply(conn, RolePasswords())
    print(f"granted {len(grants)} table privileges to {', '.join(role_name(s) for s in SERVICES)}")


if __name__ == "__main__":
    main()
