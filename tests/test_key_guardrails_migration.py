"""Migration 0024 on a database of its own: a key minted before it keeps all of its guardrails as imposed, so a
workspace's keys can no more lift them after the upgrade than they could before it (when a key's guardrails
could not change at all); the new column holds an object or nothing, and the migration goes back down cleanly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests import services
from tests.services import ROOT, admin_database_url

LEGACY_RULES = {"deny": [{"name": "codename", "keywords": ["Falcon"]}]}


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def scratch_url() -> Iterator[str]:
    admin = admin_database_url()
    name = f"luntrex_test_mig_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        services.drop_database_named(name)


def alembic(url: str, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), *args],
        cwd=ROOT,
        env={**os.environ, "LUNTREX_DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_keys_minted_before_0024_keep_their_guardrails_as_imposed(scratch_url: str) -> None:
    alembic(scratch_url, "upgrade", "0022")
    with psycopg.connect(libpq(scratch_url), autocommit=True) as conn:
        conn.execute("INSERT INTO workspaces (id, name) VALUES ('ws_legacy', 'legacy')")
        conn.execute(
            "INSERT INTO api_keys (id, workspace_id, name, secret_sha256, last4, guardrails) VALUES "
            "('aaaaaaaaaaaa', 'ws_legacy', 'guarded', 'x', '0001', %s), "
            "('bbbbbbbbbbbb', 'ws_legacy', 'plain', 'y', '0002', NULL)",
            (json.dumps(LEGACY_RULES),),
        )
    alembic(scratch_url, "upgrade", "0024")
    with psycopg.connect(libpq(scratch_url), autocommit=True) as conn:
        rows = dict(conn.execute("SELECT id, guardrails_imposed FROM api_keys ORDER BY id").fetchall())
        assert rows == {"aaaaaaaaaaaa": LEGACY_RULES, "bbbbbbbbbbbb": None}
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("UPDATE api_keys SET guardrails_imposed = '[1]'::jsonb WHERE id = 'bbbbbbbbbbbb'")
    alembic(scratch_url, "downgrade", "-1")
    with psycopg.connect(libpq(scratch_url)) as conn:
        columns = {
            str(row[0])
            for row in conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'api_keys'")
        }
    assert "guardrails_imposed" not in columns and "guardrails" in columns
