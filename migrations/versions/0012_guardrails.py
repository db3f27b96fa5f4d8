"""Workspace guardrails (allowed models, cost and prompt-size ceilings, deny rules, redaction) and, on each job,
what the guardrails did to it (e.g. which kinds of personal data were redacted before the provider saw them).

Revision ID: 0012
Revises: 0009
"""

from alembic import op

revision = "0012"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Validated by the ingress (schemas/guardrails.py) before the ledger stores it; a JSON object or null.
    op.execute(
        "ALTER TABLE workspaces ADD COLUMN guardrails jsonb "
        "CHECK (guardrails IS NULL OR jsonb_typeof(guardrails) = 'object')"
    )
    op.execute(
        "ALTER TABLE jobs ADD COLUMN guardrails jsonb CHECK (guardrails IS NULL OR jsonb_typeof(guardrails) = 'object')"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE jobs DROP COLUMN guardrails")
    op.execute("ALTER TABLE workspaces DROP COLUMN guardrails")
