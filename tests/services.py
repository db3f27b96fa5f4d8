"""Where the real Kafka and PostgreSQL for tests are, and a fresh database per test session.

`make test` starts both (python -m stack services --profile test) and passes their addresses in
LUNTREX_TEST_KAFKA and LUNTREX_TEST_DATABASE_URL; without them tests read `.run/test/services.env`.
A missing or unreachable service fails the tests: nothing here skips.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg

from runtime import db_roles

ROOT = Path(__file__).resolve().parent.parent
SERVICES_ENV = ROOT / ".run" / "test" / "services.env"


def _from_env_file() -> dict[str, str]:
    if not SERVICES_ENV.exists():
        return {}
    pairs = (line.split("=", 1) for line in SERVICES_ENV.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def kafka_bootstrap() -> str:
    value = os.environ.get("LUNTREX_TEST_KAFKA") or _from_env_file().get("KAFKA_BOOTSTRAP_SERVERS")
    if not value:
        raise RuntimeError("no test Kafka: run `make test` (or python -m stack services --profile test)")
    host, port = value.split(",")[0].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError as exc:
        raise RuntimeError(f"test Kafka at {value} is unreachable: {exc}") from exc
    return value


def admin_database_url() -> str:
    value = os.environ.get("LUNTREX_TEST_DATABASE_URL") or _from_env_file().get("DATABASE_URL")
    if not value:
        raise RuntimeError("no test PostgreSQL: run `make test` (or python -m stack services --profile test)")
    return value


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def create_database() -> str:
    """A new, migrated database for this session with the services' grants applied; returns its SQLAlchemy URL
    (the tables' owner: `role_url` gives each service's)."""
    admin_url = admin_database_url()
    name = f"luntrex_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), "upgrade", "head"],
        cwd=ROOT,
        env={**os.environ, "LUNTREX_DATABASE_URL": url},
        check=True,
    )
    with psycopg.connect(_libpq(url)) as conn:
        db_roles.apply(conn)
    return url


# PostgreSQL 15 refuses a non-superuser's `DROP DATABASE ... WITH (FORCE)` while an autovacuum worker is in the
# database (the worker's process has no role to be a member of; 16 terminates such workers itself), and a test that
# wrote many rows invites autovacuum just as it ends. A plain DROP ends autovacuum workers itself but refuses while
# a client is connected (a stack being stopped), which FORCE ends: the two are tried in turn until one drops it.
DROP_RETRY_FOR_S = 30.0
DROP_RETRY_PAUSE_S = 0.2


def drop_database(url: str) -> None:
    drop_database_named(url.rsplit("/", 1)[1])


def drop_database_named(name: str) -> None:
    deadline = time.monotonic() + DROP_RETRY_FOR_S
    with psycopg.connect(_libpq(admin_database_url()), autocommit=True) as conn:
        while True:
            try:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except psycopg.errors.InsufficientPrivilege:
                try:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                    return
                except psycopg.errors.ObjectInUse:
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(DROP_RETRY_PAUSE_S)
