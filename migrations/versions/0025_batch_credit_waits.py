"""A batch waiting for credit is not read again until its workspace could pay for its next line.

- `batch_feeds.credit_needed_tokens`: the hold of the line its workspace could not pay for when the feeder last
  tried (NULL: not waiting for credit). The feeder skips the batch (no lines read, no accounts locked) while its
  workspace's available credit above its floor is less than this: a top-up, a grant, a settlement releasing the
  unused part of a hold or a raised credit line ends the wait at the next tick.
- `batch_feeds.credit_recheck_at`: the batch is tried again from this time even if that credit has not come (a new
  price may have made its next hold smaller).

Revision ID: 0025
Revises: 0023
"""

from alembic import op

revision = "0025"
down_revision = "0023"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE batch_feeds ADD COLUMN credit_needed_tokens bigint, ADD COLUMN credit_recheck_at timestamptz;
"""

DOWNGRADE = """
ALTER TABLE batch_feeds DROP COLUMN credit_needed_tokens, DROP COLUMN credit_recheck_at;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
