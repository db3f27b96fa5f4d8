"""An index for pruning the ingress's outbox: rows of jobs the ledger has recorded (their event dropped), by age.

Revision ID: 0019
Revises: 0012
"""

from alembic import op

revision = "0019"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX accepted_jobs_recorded_created ON accepted_jobs (created_at) WHERE event IS NULL")


def downgrade() -> None:
    op.execute("DROP INDEX accepted_jobs_recorded_created")
