"""Migration 0031 on a database of its own: jobs finished before it read as a provider that told no details (0, 0,
NULL), a settlement after it stores them, a negative count is refused by the database, and it goes back down
cleanly."""

from __future__ import annotations

import psycopg
import pytest

from tests.test_key_guardrails_migration import alembic, libpq, scratch_url

__all__ = ["scratch_url"]  # the fixture, used by name

DETAILS = "cached_input_tokens, reasoning_tokens, system_fingerprint"


def test_jobs_before_0031_read_as_no_details_and_later_ones_keep_theirs(scratch_url: str) -> None:
    alembic(scratch_url, "upgrade", "0030")
    with psycopg.connect(libpq(scratch_url), autocommit=True) as conn:
        conn.execute("INSERT INTO workspaces (id, name) VALUES ('ws_d', 'd')")
        conn.execute(
            "INSERT INTO jobs (id, workspace_id, api_key_id, model_id, status, input_tokens, output_tokens) "
            "VALUES ('job_old', 'ws_d', 'k', 'm', 'completed', 10, 4), ('job_new', 'ws_d', 'k', 'm', 'queued', 0, 0)"
        )
    alembic(scratch_url, "upgrade", "0031")
    with psycopg.connect(libpq(scratch_url), autocommit=True) as conn:
        assert conn.execute(f"SELECT {DETAILS} FROM jobs WHERE id = 'job_old'").fetchone() == (0, 0, None)
        conn.execute(
            "UPDATE jobs SET status = 'completed', input_tokens = 7, output_tokens = 8, cached_input_tokens = 3, "
            "reasoning_tokens = 5, system_fingerprint = 'fp_x' WHERE id = 'job_new'"
        )
        assert conn.execute(f"SELECT {DETAILS} FROM jobs WHERE id = 'job_new'").fetchone() == (3, 5, "fp_x")
        for column in ("cached_input_tokens", "reasoning_tokens"):
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute(f"UPDATE jobs SET {column} = -1 WHERE id = 'job_old'")
    alembic(scratch_url, "downgrade", "-1")
    with psycopg.connect(libpq(scratch_url)) as conn:
        columns = {
            str(row[0])
            for row in conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'jobs'")
        }
        assert not columns & {"cached_input_tokens", "reasoning_tokens", "system_fingerprint"}
        assert {"input_tokens", "output_tokens", "first_token_ms"} <= columns
        assert conn.execute("SELECT input_tokens, output_tokens FROM jobs WHERE id = 'job_new'").fetchone() == (7, 8)
