"""Jobs remember their dispatch and their attempts: `jobs.dispatched_at`, `jobs.attempts`.

Revision ID: 0011
Revises: 0008

`dispatched_at` is set once the broker acknowledged a job's dispatch; an admission replay (a redelivered
submission) dispatches again only a queued job never recorded as dispatched, so a replay no longer sends a
running job to its provider twice. Rows from before this revision keep NULL: a replay of one of them is
dispatched again, as before (the safe side for a job whose first dispatch may never have been sent).
`attempts` is how many provider calls the worker made for a finished job (NULL: not recorded).
"""

from alembic import op

revision = "0011"
down_revision = "0008"


def upgrade() -> None:
    op.execute("ALTER TABLE jobs ADD COLUMN dispatched_at timestamptz")
    op.execute("ALTER TABLE jobs ADD COLUMN attempts integer CHECK (attempts >= 0)")


def downgrade() -> None:
    op.execute("ALTER TABLE jobs DROP COLUMN attempts")
    op.execute("ALTER TABLE jobs DROP COLUMN dispatched_at")
