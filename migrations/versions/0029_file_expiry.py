"""OpenAI's expiry policies: `files.create(expires_after=...)` and `batches.create(output_expires_after=...)`.

Both were ignored or refused: `expires_after` on an upload was dropped unseen, so a file its owner asked to expire
in an hour was kept until deleted by hand; `output_expires_after` on a batch was a 400. Now:

- `batch_files.expires_at`: when an uploaded file expires (NULL: kept until its owner deletes it). From then on it
  reads as gone, and the ingress's pruner deletes it with its chunks.
- `batches.output_expires_after_s`: how long after the batch ends its results (its output and error files) are
  kept, when sooner than the results' retention; the ledger's retention pruner deletes the batch then.

Both take OpenAI's range, 1 hour to 30 days.

Revision ID: 0029
Revises: 0028
"""

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE batch_files ADD COLUMN expires_at timestamptz;
CREATE INDEX batch_files_expiring ON batch_files (expires_at) WHERE expires_at IS NOT NULL;
ALTER TABLE batches ADD COLUMN output_expires_after_s integer
    CHECK (output_expires_after_s BETWEEN 3600 AND 2592000);
CREATE INDEX batches_output_expiring ON batches (id) WHERE output_expires_after_s IS NOT NULL;
"""

DOWNGRADE = """
DROP INDEX batches_output_expiring;
ALTER TABLE batches DROP COLUMN output_expires_after_s;
DROP INDEX batch_files_expiring;
ALTER TABLE batch_files DROP COLUMN expires_at;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
