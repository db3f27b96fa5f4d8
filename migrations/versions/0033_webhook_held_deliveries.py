"""A paused (disabled) webhook endpoint holds its deliveries: the `held` state.

Disabling an endpoint moves its pending deliveries to `held` (out of the dispatcher's queue, `next_attempt_at`
NULL, attempts made so far kept), and events raised while it is disabled are recorded `held` for it; enabling it
again queues them all at once, their retry schedules going on from the attempts already made. So settlement keeps
writing job events for a workspace whose only job endpoint is paused: `webhook_job_events` no longer asks for an
enabled endpoint. Deliveries pending for endpoints already disabled are held now.

Revision ID: 0033
Revises: 0032
"""

from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


# The workspace flag settlement reads: any endpoint subscribed to a job event, enabled or paused (its events are held).
UPGRADE = """
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_state_check,
    ADD CONSTRAINT webhook_deliveries_state_check CHECK (state IN ('pending', 'held', 'delivered', 'dead'));
UPDATE webhook_deliveries d SET state = 'held', next_attempt_at = NULL, updated_at = now()
FROM webhook_endpoints e WHERE e.id = d.endpoint_id AND NOT e.enabled AND d.state = 'pending';
CREATE OR REPLACE FUNCTION webhook_job_events_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE workspaces w SET webhook_job_events = EXISTS (
        SELECT 1 FROM webhook_endpoints e WHERE e.workspace_id = w.id
          AND e.event_types && ARRAY['job.completed', 'job.failed'])
    WHERE w.id IN (SELECT workspace_id FROM changed);
    RETURN NULL;
END $$;
UPDATE workspaces w SET webhook_job_events = EXISTS (
    SELECT 1 FROM webhook_endpoints e WHERE e.workspace_id = w.id
      AND e.event_types && ARRAY['job.completed', 'job.failed'])
WHERE w.id IN (SELECT workspace_id FROM webhook_endpoints WHERE NOT enabled);
"""

DOWNGRADE = """
UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = now(), updated_at = now() WHERE state = 'held';
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_state_check,
    ADD CONSTRAINT webhook_deliveries_state_check CHECK (state IN ('pending', 'delivered', 'dead'));
CREATE OR REPLACE FUNCTION webhook_job_events_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE workspaces w SET webhook_job_events = EXISTS (
        SELECT 1 FROM webhook_endpoints e WHERE e.workspace_id = w.id AND e.enabled
          AND e.event_types && ARRAY['job.completed', 'job.failed'])
    WHERE w.id IN (SELECT workspace_id FROM changed);
    RETURN NULL;
END $$;
UPDATE workspaces w SET webhook_job_events = EXISTS (
    SELECT 1 FROM webhook_endpoints e WHERE e.workspace_id = w.id AND e.enabled
      AND e.event_types && ARRAY['job.completed', 'job.failed'])
WHERE w.id IN (SELECT workspace_id FROM webhook_endpoints WHERE NOT enabled);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
