"""`accepted_jobs` becomes the ingress's outbox: a job is recorded with its encoded event before it is published.

An `Idempotency-Key` claim and its job's outbox row are written in one transaction, so a key never names a job
that cannot be published: the ingress relay publishes again any row the broker never acknowledged and the
ledger never recorded, and any acknowledged row the ledger still has not recorded past the job's deadline
(so the ledger ends it). The event bytes are kept only until the ledger has recorded the job.

Revision ID: 0006
Revises: 0007
"""

from alembic import op

revision = "0006"
down_revision = "0007"


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE accepted_jobs
            -- The encoded ChatJobSubmitted, exactly as published; NULL once the ledger has recorded the job.
            ADD COLUMN event bytea,
            -- When the broker last acknowledged the job (or the ledger was found to have it); NULL until then.
            ADD COLUMN published_at timestamptz,
            -- The job's deadline as it travels in its event: past it, the ledger refuses the job as expired.
            ADD COLUMN deadline_at timestamptz,
            -- Publications by the relay, for operators: a row the relay keeps failing to publish stands out.
            ADD COLUMN relay_attempts integer NOT NULL DEFAULT 0;
        -- Rows recorded before this revision were written after their job was published.
        UPDATE accepted_jobs SET published_at = created_at;
        ALTER TABLE accepted_jobs ADD CONSTRAINT accepted_jobs_unpublished_keep_event
            CHECK (published_at IS NOT NULL OR event IS NOT NULL);
        CREATE INDEX accepted_jobs_unpublished ON accepted_jobs (created_at) WHERE published_at IS NULL;
        CREATE INDEX accepted_jobs_unrecorded ON accepted_jobs (published_at)
            WHERE published_at IS NOT NULL AND event IS NOT NULL;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX accepted_jobs_unpublished, accepted_jobs_unrecorded;
        ALTER TABLE accepted_jobs DROP CONSTRAINT accepted_jobs_unpublished_keep_event,
            DROP COLUMN event, DROP COLUMN published_at, DROP COLUMN deadline_at, DROP COLUMN relay_attempts;
        """
    )
