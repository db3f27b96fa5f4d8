"""What a key's parent imposed on its guardrails, so they can change after the key is minted without loosening.

A key's guardrails may be replaced after it is minted (`PUT /api/v1/keys/{id}/guardrails`). A workspace's keys
may then only add to what the key's parent imposed: the guardrails of the key that minted it, or the set the
operator gave it (`ingress/key_guardrails.py`). Keys minted before this migration could never change their
guardrails; their parent is not recorded, so all of their guardrails count as imposed and stay as binding as
they were (only the operator can lift them).

Revision ID: 0024
Revises: 0022
"""

from alembic import op

revision = "0024"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE api_keys ADD COLUMN guardrails_imposed jsonb "
        "CHECK (guardrails_imposed IS NULL OR jsonb_typeof(guardrails_imposed) = 'object')"
    )
    op.execute("UPDATE api_keys SET guardrails_imposed = guardrails WHERE guardrails IS NOT NULL")


def downgrade() -> None:
    op.execute("ALTER TABLE api_keys DROP COLUMN guardrails_imposed")
