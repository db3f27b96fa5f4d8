"""A partial index over queued jobs, for the expiry sweep (it stays small: only unfinished jobs).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.execute("CREATE INDEX jobs_queued_since ON jobs (created_at) WHERE status = 'queued'")


def downgrade() -> None:
    op.execute("DROP INDEX jobs_queued_since")
