"""Jobs keep every choice of their answer: `jobs.choices` (tool calls, n > 1, logprobs).

Revision ID: 0016
Revises: 0015

`answer` and `finish_reason` stay the first choice's; `choices` holds every choice (index, text, finish
reason, tool calls, logprobs) as JSON when the answer has more than those two columns say, and is NULL
otherwise, so a plain answer's row is unchanged. A poll renders the same choices the caller was answered with.
"""

from alembic import op

revision = "0016"
down_revision = "0015"


def upgrade() -> None:
    op.execute("ALTER TABLE jobs ADD COLUMN choices jsonb")
    op.execute(
        "COMMENT ON COLUMN jobs.choices IS "
        "'every choice of the answer (tool calls, n > 1, logprobs); NULL when answer/finish_reason say it all'"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE jobs DROP COLUMN choices")
