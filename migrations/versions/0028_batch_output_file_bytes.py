"""The size of a batch's OpenAI output and error files, once known.

`file-out-<batch>` and `file-err-<batch>` are rendered from the book of record when read, never stored, so
`files.retrieve` answered `bytes: 0`: a client that checks a file's size before downloading it saw an empty file.
An ended batch's files never change (each line's `created` is its job's finish time), so their size is rendered
once, on the first `files.retrieve`, and kept here. Ingress writes these columns, as it writes the rest of
`batches`; NULL is "not measured yet".

Revision ID: 0028
Revises: 0027
"""

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE batches ADD COLUMN output_file_bytes bigint CHECK (output_file_bytes >= 0), "
        "ADD COLUMN error_file_bytes bigint CHECK (error_file_bytes >= 0)"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE batches DROP COLUMN output_file_bytes, DROP COLUMN error_file_bytes")
