"""Migration 0027 on a database of its own: batches stored before it are tallied from their jobs as they stand (a
batch mid-run, one finished, one never released), jobs written after it move the tallies, and it goes back down
cleanly."""

from __future__ import annotations

import psycopg

from tests.test_key_guardrails_migration import alembic, libpq, scratch_url

__all__ = ["scratch_url"]  # the fixture, used by name

BATCHES = ("aa", "bb", "cc")
# Per batch: its lines' jobs as (status, cost) in line order; lines past them were never released.
JOBS = {
    "aa": [("completed", 12), ("completed", 30), ("queued", 0), ("failed", 0)],
    "bb": [("completed", 7), ("rejected", 0), ("cancelled", 0), ("expired", 0)],
    "cc": [],
}
LINES = 5
COLUMNS = "queued, completed, failed, cancelled, expired, cost_tokens, input_tokens, output_tokens"


def _store(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    conn.execute("INSERT INTO workspaces (id, name) VALUES ('ws_m', 'm')")
    for batch in BATCHES:
        conn.execute(
            "INSERT INTO batches (id, workspace_id, api_key_id, endpoint, completion_window_s, total_lines, "
            "expires_at) VALUES (%s, 'ws_m', 'k', '/v1/chat/completions', 60, %s, now())",
            (f"batch_{batch}", LINES),
        )
        for line in range(1, LINES + 1):
            conn.execute(
                "INSERT INTO batch_lines (batch_id, line_no, custom_id, job_id, model_id, pool, job) "
                "VALUES (%s, %s, %s, %s, 'm', 'p', '{}')",
                (f"batch_{batch}", line, f"c{line}", f"bj_{batch}_{line}"),
            )
        for line, (status, cost) in enumerate(JOBS[batch], start=1):
            conn.execute(
                "INSERT INTO jobs (id, workspace_id, api_key_id, model_id, status, cost_tokens, input_tokens, "
                "output_tokens) VALUES (%s, 'ws_m', 'k', 'm', %s, %s, %s, %s)",
                # Usage: the cost in, 2 out (none while running).
                (f"bj_{batch}_{line}", status, cost, cost, 0 if status == "queued" else 2),
            )


def _tallies(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, tuple[object, ...]]:
    rows = conn.execute(f"SELECT batch_id, {COLUMNS} FROM batch_tallies ORDER BY batch_id").fetchall()
    return {str(row[0]): tuple(row[1:]) for row in rows}


def test_batches_stored_before_0027_are_tallied_and_later_jobs_move_the_tallies(scratch_url: str) -> None:
    alembic(scratch_url, "upgrade", "0026")
    with psycopg.connect(libpq(scratch_url), autocommit=True) as conn:
        _store(conn)
    alembic(scratch_url, "upgrade", "0027")
    with psycopg.connect(libpq(scratch_url), autocommit=True) as conn:
        # Batch cc never released a line: no tally row, and its lines count as unreleased.
        assert _tallies(conn) == {"batch_aa": (1, 2, 1, 0, 0, 42, 42, 6), "batch_bb": (0, 1, 1, 1, 1, 7, 7, 8)}
        # The running job of aa settles and its fifth line is released; cc's first line is released.
        conn.execute(
            "UPDATE jobs SET status = 'completed', cost_tokens = 5, input_tokens = 5, output_tokens = 3 "
            "WHERE id = 'bj_aa_3'"
        )
        conn.execute(
            "INSERT INTO jobs (id, workspace_id, api_key_id, model_id, status) VALUES "
            "('bj_aa_5', 'ws_m', 'k', 'm', 'queued'), ('bj_cc_1', 'ws_m', 'k', 'm', 'queued')"
        )
        assert _tallies(conn) == {
            "batch_aa": (1, 3, 1, 0, 0, 47, 47, 9),
            "batch_bb": (0, 1, 1, 1, 1, 7, 7, 8),
            "batch_cc": (1, 0, 0, 0, 0, 0, 0, 0),
        }
        # A batch deleted (its retention) takes its tally with it.
        conn.execute("DELETE FROM batches WHERE id = 'batch_bb'")
        assert set(_tallies(conn)) == {"batch_aa", "batch_cc"}
    alembic(scratch_url, "downgrade", "-1")
    with psycopg.connect(libpq(scratch_url), autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('batch_tallies')").fetchone() == (None,)
        triggers = conn.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'batch_tallies%'").fetchall()
        assert triggers == []
        # Jobs are written as before.
        conn.execute("UPDATE jobs SET status = 'completed' WHERE id = 'bj_aa_5'")
