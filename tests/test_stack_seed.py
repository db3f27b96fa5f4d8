"""The demo seed (`python -m stack.seed`): one key across re-runs while it is valid, kept in a 0600 file.

Runs on the real test PostgreSQL; each test seeds its own workspace.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ingress.keys import revoke_key
from ledger.queries import balance_summary
from stack import envfile
from stack.seed import seed
from tests.services import ROOT


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def keys_of(engine: AsyncEngine, workspace_id: str) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(text("SELECT count(*) FROM api_keys WHERE workspace_id = :ws"), {"ws": workspace_id})
    return int(count or 0)


async def balance_of(engine: AsyncEngine, workspace_id: str) -> int:
    async with engine.connect() as conn:
        summary = await balance_summary(conn, workspace_id)
    assert summary is not None
    return summary.balance_tokens


async def test_a_rerun_reuses_the_recorded_key_and_grants_once(database_url: str, engine: AsyncEngine) -> None:
    workspace_id = f"demo_{uuid.uuid4().hex[:8]}"
    first = await seed(database_url, workspace_id, 5_000)
    assert not first.reused

    again = await seed(database_url, workspace_id, 5_000, first.env_values())

    assert again.reused
    assert (again.key_id, again.secret) == (first.key_id, first.secret)
    assert await keys_of(engine, workspace_id) == 1
    assert await balance_of(engine, workspace_id) == 5_000


async def test_a_revoked_or_foreign_key_is_replaced(database_url: str, engine: AsyncEngine) -> None:
    workspace_id = f"demo_{uuid.uuid4().hex[:8]}"
    first = await seed(database_url, workspace_id, 0)
    async with engine.begin() as conn:
        assert await revoke_key(conn, workspace_id, first.key_id)

    replaced = await seed(database_url, workspace_id, 0, first.env_values())
    assert not replaced.reused and replaced.key_id != first.key_id

    # A valid key, but of another workspace, is not this workspace's demo key.
    other = await seed(database_url, f"demo_{uuid.uuid4().hex[:8]}", 0, replaced.env_values())
    assert not other.reused and other.key_id != replaced.key_id
    # A recorded id with a secret that does not match it is not reused either.
    tampered = {**replaced.env_values(), "LUNTREX_API_KEY": replaced.secret[:-2] + "xx"}
    assert not (await seed(database_url, workspace_id, 0, tampered)).reused


def test_the_command_records_the_key_0600_and_reuses_it(database_url: str, tmp_path: Path) -> None:
    env_file = tmp_path / "stack.env"
    envfile.write(env_file, {"LUNTREX_BASE_URL": "http://127.0.0.1:1/api/v1"})
    env_file.chmod(0o644)  # as an older stack left it
    workspace_id = f"demo_{uuid.uuid4().hex[:8]}"
    command = [sys.executable, "-m", "stack.seed", "--workspace", workspace_id, "--env-file", str(env_file)]
    env = {**os.environ, "LUNTREX_DATABASE_URL": database_url}

    first = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=120)
    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=120)

    printed = envfile.parse(first.stdout)
    assert printed["LUNTREX_API_KEY_REUSED"] == "no"
    assert envfile.parse(second.stdout)["LUNTREX_API_KEY_REUSED"] == "yes"
    assert envfile.parse(second.stdout)["LUNTREX_API_KEY"] == printed["LUNTREX_API_KEY"]
    recorded = envfile.read(env_file)
    assert recorded["LUNTREX_API_KEY"] == printed["LUNTREX_API_KEY"]
    assert recorded["LUNTREX_BASE_URL"] == "http://127.0.0.1:1/api/v1", "other lines are kept"
    assert mode_of(env_file) == 0o600


def test_env_files_are_created_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "stack.env"
    envfile.write(path, {"LUNTREX_API_KEY": "lx_secret"})
    assert mode_of(path) == 0o600
    envfile.update(path, {"DATABASE_URL": "postgresql://x"})
    assert mode_of(path) == 0o600
    assert envfile.read(path) == {"LUNTREX_API_KEY": "lx_secret", "DATABASE_URL": "postgresql://x"}
    assert not list(path.parent.glob(".*.tmp"))
