"""`accepted_jobs` becomes the ingress's outbox: a job is recorded with its encoded event before it is published.

An `Idempotency-Key` claim and its job's outbox row are written in one transaction, so a key never names a job
that cannot be published: the ingress relay publishes again any row the broker never acknowledged and the
ledger never recorded. The event bytes are kept only until the publication is confirmed.

Revision ID: 0006
Revises: 0003
"""

from alembic import op

revision = "0006"
down_revision = "0003"


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE accepted_jobs
            -- The encoded ChatJobSubmitted, exactly as published; NULL once its publication is confirmed.
            ADD COLUMN event bytea,
            -- When the broker acknowledged the job (or the ledger was found to have it); NULL while unconfirmed.
            ADD COLUMN published_at timestamptz,
            -- Publications by the relay, for operators: a row the relay keeps failing to publish stands out.
            ADD COLUMN relay_attempts integer NOT NULL DEFAULT 0;
        -- Rows recorded before this revision were written after their job was published.
        UPDATE accepted_jobs SET published_at = created_at;
        ALTER TABLE accepted_jobs ADD CONSTRAINT accepted_jobs_unpublished_keep_event
            CHECK (published_at IS NOT NULL OR event IS NOT NULL);
        CREATE INDEX accepted_jobs_unpublished ON accepted_jobs (created_at) WHERE published_at IS NULL;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX accepted_jobs_unpublished;
        ALTER TABLE accepted_jobs DROP CONSTRAINT accepted_jobs_unpublished_keep_event,
            DROP COLUMN event, DROP COLUMN published_at, DROP COLUMN relay_attempts;
        """
    )
