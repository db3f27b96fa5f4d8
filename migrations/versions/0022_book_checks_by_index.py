"""The book's commit-time checks look postings up by index, and batch lines keep their job as the text it came as.

- `postings_balanced` and `journal_transaction_not_empty` run once per posting and per journal transaction at
  every commit (deferred constraint triggers, migrations 0001 and 0005). PL/pgSQL caches their plans per
  connection: planned while `postings` looked small (a new database, or statistics behind a fast-growing book),
  each call scanned the whole table, so a commit cost grew with the book (measured: a batch's 100k postings
  read 143 million tuples through 10,755 sequential scans, half of PostgreSQL's CPU per billed job). The
  functions now plan without sequential scans; the index on `postings (transaction_id)` serves both lookups
  whatever the statistics say. What they check is unchanged.
- `batch_lines.job` is `json` instead of `jsonb`: it is written once (COPY) and read back whole as text by the
  batch feeder, never queried inside, so it is kept as written instead of parsed into jsonb and printed back
  on every read.

Revision ID: 0022
Revises: 0020
"""

from alembic import op

revision = "0022"
down_revision = "0020"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER FUNCTION postings_balanced() SET enable_seqscan = off;
ALTER FUNCTION journal_transaction_not_empty() SET enable_seqscan = off;
ALTER TABLE batch_lines ALTER COLUMN job TYPE json USING job::json;
"""

DOWNGRADE = """
ALTER TABLE batch_lines ALTER COLUMN job TYPE jsonb USING job::jsonb;
ALTER FUNCTION journal_transaction_not_empty() RESET enable_seqscan;
ALTER FUNCTION postings_balanced() RESET enable_seqscan;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
