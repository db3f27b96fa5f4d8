"""Each batch's jobs tallied by state, with their cost, kept by a trigger on `jobs`.

A batch's counts by state and its cost so far (`GET /batches/{id}`, the list, OpenAI's `request_counts`, the
`batch.completed` event) were counted on every read by joining all its lines to their jobs: about 1.7 us a line,
so 170 ms for one GET of a 100k-line batch, 1.7 s for a million lines, paid again by every poll of a submitter
waiting for it and by every page of the list. `batch_tallies` holds the same figures, one row per batch:

- released jobs by state (`queued` is running; `failed` counts `failed` and `rejected`, as the counts always did)
  and the sums of their `cost_tokens`, `input_tokens` and `output_tokens` (a batch's usage, as OpenAI reports it);
  a batch's lines not released yet are `total_lines` minus the jobs;
- kept by AFTER ... FOR EACH STATEMENT triggers on `jobs`: each sums the batch jobs its statement changed (its
  transition tables: every old row counted -1, every new row +1) per batch, in one upsert per batch. Whatever
  writes a batch job (the feeder's hold, a rejection, a settlement, an expiry, a poison record), the tally follows
  in the same statement, so a reader sees the tally and the jobs it counts committed together.

Cost, measured on this machine (`python -m bench batch-stage`, alternated with the commit before, 3 runs each;
`bench/results/exp_stage_*`): PostgreSQL CPU per batch job at release 83.5 -> 84.5 us and at settlement
88.5 -> 86.5 us (medians, counts and cost); with the usage sums, in a slower hour, 122 -> 130.5 and 128.5 -> 137 us,
with every part of the machine drifting as much between runs. Row triggers, tried first, cost +18 and +20 us: a
PL/pgSQL call and an upsert per job. A statement that touches only sync jobs pays the call and an empty scan:
+17 us (a server-side loop of single-row updates, 37 -> 54 us), three such statements per sync request at
concurrency 1, one per batch of requests under load.

Every writer that moves a batch job's state or cost holds its workspace's account lock first (`ledger.journal`), so
two transactions never wait on one tally row for each other: the tally's row lock adds no wait and no deadlock. The
writers that do not hold it (the feeder's `dispatched_at`, the retention's cleared answers) move nothing, and a
statement that moves nothing leaves the tallies alone. The trigger adds nothing
for a job whose batch row is gone (a job id that names no batch). Existing batches are tallied once, here, under
the trigger's lock on `jobs`.

Revision ID: 0027
Revises: 0026
"""

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def _tally(source: str) -> str:
    """Add to the tallies the batch jobs of `source` (rows of id, status, cost and tokens, and sign: -1 for a row
    that was, +1 for a row that is), summed per batch, one upsert per batch in batch order. A batch whose sums are all
    zero is left alone: an update that moves no count or cost (the feeder's `dispatched_at`, the retention's cleared
    answers, both written without the accounts' locks) takes no lock on a tally. A job whose batch row does not exist
    adds nothing. `source` is one of this module's constants."""
    return rf"""
    INSERT INTO batch_tallies AS t
        (batch_id, queued, completed, failed, cancelled, expired, cost_tokens, input_tokens, output_tokens)
    SELECT * FROM (
        SELECT 'batch_' || split_part(j.id, '_', 2) AS batch_id,
               sum(j.sign * (j.status = 'queued')::integer) AS queued,
               sum(j.sign * (j.status = 'completed')::integer) AS completed,
               sum(j.sign * (j.status IN ('failed', 'rejected'))::integer) AS failed,
               sum(j.sign * (j.status = 'cancelled')::integer) AS cancelled,
               sum(j.sign * (j.status = 'expired')::integer) AS expired,
               sum(j.sign * j.cost_tokens) AS cost_tokens,
               sum(j.sign * j.input_tokens) AS input_tokens,
               sum(j.sign * j.output_tokens) AS output_tokens
        FROM ({source}) AS j
        WHERE j.id LIKE 'bj\_%'
            AND EXISTS (SELECT 1 FROM batches b WHERE b.id = 'batch_' || split_part(j.id, '_', 2))
        GROUP BY 1
    ) AS d
    WHERE (d.queued, d.completed, d.failed, d.cancelled, d.expired, d.cost_tokens, d.input_tokens, d.output_tokens)
        <> (0, 0, 0, 0, 0, 0, 0, 0)
    ORDER BY d.batch_id
    ON CONFLICT (batch_id) DO UPDATE SET
        queued = t.queued + excluded.queued,
        completed = t.completed + excluded.completed,
        failed = t.failed + excluded.failed,
        cancelled = t.cancelled + excluded.cancelled,
        expired = t.expired + excluded.expired,
        cost_tokens = t.cost_tokens + excluded.cost_tokens,
        input_tokens = t.input_tokens + excluded.input_tokens,
        output_tokens = t.output_tokens + excluded.output_tokens;"""  # noqa: S608


_ROW = "SELECT id, status, cost_tokens, input_tokens, output_tokens"
_NEW_ROWS = _ROW + ", 1 AS sign FROM new_jobs"
_OLD_ROWS = _ROW + ", -1 AS sign FROM old_jobs"
# Per operation: the transition tables its trigger declares (a trigger's SQL may only name those) and its rows.
_TRIGGERS = {
    "insert": ("REFERENCING NEW TABLE AS new_jobs", _NEW_ROWS),
    "update": ("REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs", f"{_NEW_ROWS} UNION ALL {_OLD_ROWS}"),
    "delete": ("REFERENCING OLD TABLE AS old_jobs", _OLD_ROWS),
}

_TABLE = """
CREATE TABLE batch_tallies (
    batch_id text PRIMARY KEY REFERENCES batches(id) ON DELETE CASCADE,
    queued bigint NOT NULL DEFAULT 0,
    completed bigint NOT NULL DEFAULT 0,
    failed bigint NOT NULL DEFAULT 0,
    cancelled bigint NOT NULL DEFAULT 0,
    expired bigint NOT NULL DEFAULT 0,
    cost_tokens bigint NOT NULL DEFAULT 0,
    input_tokens bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0
);
"""


def _trigger(operation: str, transitions: str, rows: str) -> str:
    return f"""
CREATE FUNCTION batch_tallies_on_{operation}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_tally(rows)}
    RETURN NULL;
END $$;
CREATE TRIGGER batch_tallies_on_{operation} AFTER {operation.upper()} ON jobs {transitions}
    FOR EACH STATEMENT EXECUTE FUNCTION batch_tallies_on_{operation}();
"""


UPGRADE = (
    _TABLE
    + "".join(_trigger(operation, transitions, rows) for operation, (transitions, rows) in _TRIGGERS.items())
    # The batches stored before this migration, tallied once (the triggers' lock on `jobs` holds off every writer).
    + _tally(_ROW + ", 1 AS sign FROM jobs")
)

DOWNGRADE = (
    "".join(
        f"DROP TRIGGER batch_tallies_on_{operation} ON jobs; DROP FUNCTION batch_tallies_on_{operation}();\n"
        for operation in _TRIGGERS
    )
    + "DROP TABLE batch_tallies;\n"
)


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
