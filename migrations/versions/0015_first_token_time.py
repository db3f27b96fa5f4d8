"""Streamed jobs remember their time to first token: `jobs.first_token_ms`.

Revision ID: 0015
Revises: 0014

Milliseconds from the start of the provider call that answered a streamed job to its first text, as the worker
measured it (`UsageRecorded.first_token_ms`); NULL for unstreamed jobs and for rows from before this revision.
"""

from alembic import op

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    op.execute("ALTER TABLE jobs ADD COLUMN first_token_ms integer CHECK (first_token_ms >= 0)")


def downgrade() -> None:
    op.execute("ALTER TABLE jobs DROP COLUMN first_token_ms")
