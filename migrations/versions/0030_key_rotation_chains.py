"""Find the key a key replaced: an index on `api_keys.replaced_by`.

A key's spend caps count its whole rotation chain (ledger/limits.py `KEY_SPEND`): admission walks from a
capped key to the keys it replaced, `replaced_by = <key>`, which without this index scans every key of every
workspace at each step. Only rotated keys have a `replaced_by`, so the index is partial.

Revision ID: 0030
Revises: 0029
"""

from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX api_keys_replaced_by ON api_keys (replaced_by) WHERE replaced_by IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX api_keys_replaced_by")
