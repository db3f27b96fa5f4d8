"""Webhooks for every event: many endpoints per workspace (event types, description, enabled, a previous secret
during a rotation's overlap), deliveries of any event to any endpoint with their attempts, and a flag on the
workspace telling settlement whether any of its endpoints wants job events.

The finance endpoint of migration 0009 becomes one endpoint of the model (`billing`, subscribed to the finance
events); its deliveries move to the new table (a `failed` one is `dead`).

Revision ID: 0013
Revises: 0019
"""

from alembic import op

revision = "0013"
down_revision = "0019"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE webhook_endpoints DROP CONSTRAINT webhook_endpoints_pkey;
ALTER TABLE webhook_endpoints
    ADD COLUMN id text,
    ADD COLUMN event_types text[] NOT NULL DEFAULT '{}',
    ADD COLUMN description text NOT NULL DEFAULT '',
    ADD COLUMN enabled boolean NOT NULL DEFAULT true,
    -- The endpoint `PUT /api/v1/billing/webhook` manages (at most one a workspace).
    ADD COLUMN billing boolean NOT NULL DEFAULT false,
    ADD COLUMN previous_secret text CHECK (previous_secret LIKE 'whsec\\_%'),
    ADD COLUMN previous_secret_until timestamptz;
UPDATE webhook_endpoints SET id = 'we_' || md5(workspace_id), billing = true,
    event_types = ARRAY['topup.succeeded', 'topup.failed', 'balance.threshold_crossed'];
ALTER TABLE webhook_endpoints ALTER COLUMN id SET NOT NULL, ADD PRIMARY KEY (id),
    ADD CONSTRAINT webhook_endpoints_id CHECK (id ~ '^we_[0-9a-f]{1,64}$'),
    ADD CONSTRAINT webhook_endpoints_types CHECK (cardinality(event_types) <= 16),
    ADD CONSTRAINT webhook_endpoints_description CHECK (length(description) <= 500);
CREATE UNIQUE INDEX webhook_endpoints_billing ON webhook_endpoints (workspace_id) WHERE billing;
CREATE INDEX webhook_endpoints_workspace ON webhook_endpoints (workspace_id);

-- Read by settlement with the accounts' lock (journal.lock_accounts): a workspace without job subscriptions
-- costs settlement no statement at all. Kept true to the endpoints by the trigger below, whoever writes them.
ALTER TABLE workspaces ADD COLUMN webhook_job_events boolean NOT NULL DEFAULT false;

CREATE FUNCTION webhook_job_events_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE workspaces w SET webhook_job_events = EXISTS (
        SELECT 1 FROM webhook_endpoints e WHERE e.workspace_id = w.id AND e.enabled
          AND e.event_types && ARRAY['job.completed', 'job.failed'])
    WHERE w.id IN (SELECT workspace_id FROM changed);
    RETURN NULL;
END $$;
CREATE TRIGGER webhook_job_events_on_insert AFTER INSERT ON webhook_endpoints
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION webhook_job_events_refresh();
CREATE TRIGGER webhook_job_events_on_update AFTER UPDATE ON webhook_endpoints
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION webhook_job_events_refresh();
CREATE TRIGGER webhook_job_events_on_delete AFTER DELETE ON webhook_endpoints
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION webhook_job_events_refresh();

-- A per-request webhook (`"webhook"` on a completion): the endpoint its job.* event goes to.
ALTER TABLE jobs ADD COLUMN webhook_endpoint_id text;

ALTER TABLE webhook_deliveries RENAME TO webhook_deliveries_0009;
ALTER INDEX webhook_deliveries_due RENAME TO webhook_deliveries_0009_due;

-- One row per (event, endpoint), written in the transaction that records the event. `event_id` is the
-- `webhook-id` (stable across retries and redeliveries). `next_attempt_at` is the retry queue and, while an
-- attempt runs, the dispatcher's lease. A redelivery starts the schedule over from `schedule_start`.
CREATE TABLE webhook_deliveries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id text REFERENCES webhook_endpoints(id) ON DELETE SET NULL,
    workspace_id text NOT NULL REFERENCES workspaces(id),
    event_id text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 200),
    event_type text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 64),
    payload jsonb NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    schedule_start integer NOT NULL DEFAULT 0 CHECK (schedule_start >= 0),
    next_attempt_at timestamptz DEFAULT now(),
    last_error text,
    delivered_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((state = 'pending') = (next_attempt_at IS NOT NULL)),
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);

-- Every attempt that ended (an attempt cut short by a crash of the dispatcher is retried, not logged).
CREATE TABLE webhook_attempts (
    delivery_id bigint NOT NULL REFERENCES webhook_deliveries(id),
    attempt integer NOT NULL CHECK (attempt >= 1),
    started_at timestamptz NOT NULL,
    status_code integer,
    latency_ms integer NOT NULL CHECK (latency_ms >= 0),
    error text,
    PRIMARY KEY (delivery_id, attempt)
);

INSERT INTO webhook_deliveries (endpoint_id, workspace_id, event_id, event_type, payload, occurred_at, state,
                                attempts, next_attempt_at, last_error, delivered_at)
SELECT e.id, d.workspace_id, coalesce(f.payload->>'event_id', 'fe_' || f.id), f.type, f.payload, f.created_at,
       CASE WHEN d.status = 'failed' OR e.id IS NULL THEN 'dead' ELSE d.status END, d.attempts,
       CASE WHEN d.status = 'pending' AND e.id IS NOT NULL THEN d.next_attempt_at END, d.last_error, d.delivered_at
FROM webhook_deliveries_0009 d JOIN finance_events f ON f.id = d.event_id
LEFT JOIN webhook_endpoints e ON e.workspace_id = d.workspace_id AND e.billing;
DROP TABLE webhook_deliveries_0009;
"""

DOWNGRADE = """
DROP TABLE webhook_attempts, webhook_deliveries;
DROP TRIGGER webhook_job_events_on_insert ON webhook_endpoints;
DROP TRIGGER webhook_job_events_on_update ON webhook_endpoints;
DROP TRIGGER webhook_job_events_on_delete ON webhook_endpoints;
DROP FUNCTION webhook_job_events_refresh();
ALTER TABLE workspaces DROP COLUMN webhook_job_events;
ALTER TABLE jobs DROP COLUMN webhook_endpoint_id;
DELETE FROM webhook_endpoints WHERE NOT billing;
ALTER TABLE webhook_endpoints DROP CONSTRAINT webhook_endpoints_pkey;
DROP INDEX webhook_endpoints_billing, webhook_endpoints_workspace;
ALTER TABLE webhook_endpoints DROP COLUMN id, DROP COLUMN event_types, DROP COLUMN description,
    DROP COLUMN enabled, DROP COLUMN billing, DROP COLUMN previous_secret, DROP COLUMN previous_secret_until,
    ADD PRIMARY KEY (workspace_id);
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


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
