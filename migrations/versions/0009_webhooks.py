"""Webhooks for finance events: one endpoint (URL and Standard Webhooks secret) per workspace, and one delivery
row per finance event recorded while the workspace had an endpoint, with its attempts and retry time.

Revision ID: 0009
Revises: 0010
"""

from alembic import op

revision = "0009"
down_revision = "0010"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE webhook_endpoints (
    workspace_id text PRIMARY KEY REFERENCES workspaces(id),
    url text NOT NULL CHECK (length(url) BETWEEN 8 AND 2048 AND url ~ '^https?://'),
    secret text NOT NULL CHECK (secret LIKE 'whsec\\_%'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Written in the transaction that records the event (so each event is delivered to the endpoint in force
-- then, once); `next_attempt_at` is the retry queue, also used as a short lease while an attempt is running.
CREATE TABLE webhook_deliveries (
    event_id bigint PRIMARY KEY REFERENCES finance_events(id),
    workspace_id text NOT NULL REFERENCES workspaces(id),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz DEFAULT now(),
    last_error text,
    delivered_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL))
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
"""

DOWNGRADE = """
DROP TABLE webhook_deliveries, webhook_endpoints;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
