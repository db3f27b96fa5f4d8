"""Alembic environment: the database URL comes from LUNTREX_DATABASE_URL (or DATABASE_URL)."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine


def database_url() -> str:
    url = os.environ.get("LUNTREX_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("set LUNTREX_DATABASE_URL to migrate")
    return url


def run_migrations() -> None:
    engine = create_engine(database_url())
    with engine.connect() as connection:
        context.configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
