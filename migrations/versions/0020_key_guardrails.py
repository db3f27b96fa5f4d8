"""Guardrails per API key (the same settings as a workspace's), applied together with the workspace's.

Revision ID: 0020
Revises: 0016
"""

from alembic import op

revision = "0020"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Validated and aliases resolved by the ingress (schemas/guardrails.py) before it stores them; an object or null.
    op.execute(
        "ALTER TABLE api_keys ADD COLUMN guardrails jsonb "
        "CHECK (guardrails IS NULL OR jsonb_typeof(guardrails) = 'object')"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE api_keys DROP COLUMN guardrails")
