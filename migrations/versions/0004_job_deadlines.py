"""Deadlines travel with jobs: `jobs.deadline_at`, and a partial index the expiry sweep reads by it.

Revision ID: 0004
Revises: 0006

A job still queued at its deadline is expired by the sweep (ledger/expiry.py). Jobs queued before this
revision get the default deadline of their time (created_at + 30 min, LUNTREX_JOB_DEADLINE_S's default).
The column stays nullable: the sweep also expires a queued job without one once the default has passed.
"""

from alembic import op

revision = "0004"
down_revision = "0006"


def upgrade() -> None:
    op.execute("ALTER TABLE jobs ADD COLUMN deadline_at timestamptz")
    op.execute("UPDATE jobs SET deadline_at = created_at + interval '1800 seconds' WHERE status = 'queued'")
    op.execute("CREATE INDEX jobs_queued_deadline ON jobs (deadline_at) WHERE status = 'queued'")


def downgrade() -> None:
    op.execute("DROP INDEX jobs_queued_deadline")
    op.execute("ALTER TABLE jobs DROP COLUMN deadline_at")
