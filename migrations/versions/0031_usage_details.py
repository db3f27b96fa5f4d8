"""Finished jobs remember the details of their counts: `jobs.cached_input_tokens`, `reasoning_tokens`,
`system_fingerprint`.

What the provider told of its usage beside the billed totals (`UsageRecorded`): prompt tokens read from its cache
(part of `input_tokens`), reasoning tokens (part of `output_tokens`), and the backend configuration that answered
(OpenAI's `system_fingerprint`). They describe the bill and never change it; a poll or a batch's results show them
as the synchronous answer did. Rows from before this revision read 0, 0 and NULL: what a provider that says nothing
gets.

The counts default to 0, which PostgreSQL stores in the catalogue (no rewrite of `jobs`). Their checks are added
NOT VALID: every row already there holds the default, which passes them, so the scan of `jobs` that validation
would take under this migration's exclusive lock buys nothing; new and updated rows are checked all the same.

Revision ID: 0031
Revises: 0030
"""

from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE jobs
            ADD COLUMN cached_input_tokens bigint NOT NULL DEFAULT 0,
            ADD COLUMN reasoning_tokens bigint NOT NULL DEFAULT 0,
            ADD COLUMN system_fingerprint text,
            ADD CONSTRAINT jobs_cached_input_tokens_counted CHECK (cached_input_tokens >= 0) NOT VALID,
            ADD CONSTRAINT jobs_reasoning_tokens_counted CHECK (reasoning_tokens >= 0) NOT VALID
        """
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE jobs DROP COLUMN cached_input_tokens, DROP COLUMN reasoning_tokens, DROP COLUMN system_fingerprint"
    )
