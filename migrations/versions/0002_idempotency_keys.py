"""Idempotency keys and accepted jobs (both owned by ingress).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE idempotency_keys (
            workspace_id text NOT NULL REFERENCES workspaces(id),
            key text NOT NULL,
            -- SHA-256 of the endpoint and the raw body: the same key with another body is a conflict.
            request_sha256 text NOT NULL,
            job_id text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (workspace_id, key)
        );
        CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

        -- Jobs answered with 202, recorded before the answer: polling never 404s on a job the ledger has
        -- not reached yet (it is queued in Kafka), so an accepted job is always visible.
        CREATE TABLE accepted_jobs (
            job_id text PRIMARY KEY,
            workspace_id text NOT NULL REFERENCES workspaces(id),
            model_id text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE accepted_jobs, idempotency_keys")
