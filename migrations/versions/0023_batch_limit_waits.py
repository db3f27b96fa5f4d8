"""Batch lines refused by a rate limit or a spend cap wait instead of failing.

- `batch_feeds.throttled_until`: a limit (its key's or workspace's `rpm_max`/`tpm_max`, its key's daily or
  monthly spend cap) refused the batch's next line; the feeder does not try the batch again before this time
  (the window's end, the cap's reset or its next recheck), and `GET /api/v1/batches/{id}` counts its unreleased
  lines `waiting_for_limit`. NULL: no limit holds it back.

Revision ID: 0023
Revises: 0024
"""

from alembic import op

revision = "0023"
down_revision = "0024"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE batch_feeds ADD COLUMN throttled_until timestamptz;
"""

DOWNGRADE = """
ALTER TABLE batch_feeds DROP COLUMN throttled_until;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
