"""Key scopes and attributes, rotation state, and workspace suspension and rate overrides.

Keys that exist before this migration keep every scope (they could manage their workspace before, and the
seed's demo key must still be able to); keys minted afterwards default to `inference` only.

Revision ID: 0007
Revises: 0005
"""

from alembic import op

revision = "0007"
down_revision = "0005"

UPGRADE = """
ALTER TABLE api_keys
    ADD COLUMN scopes text[] NOT NULL DEFAULT '{inference,billing,manage}'
        CHECK (scopes <@ ARRAY['inference', 'billing', 'manage'] AND cardinality(scopes) > 0),
    -- NULL means every model of the catalogue.
    ADD COLUMN allowed_models text[],
    ADD COLUMN max_tokens_max integer CHECK (max_tokens_max > 0),
    -- Stored and validated now; enforced by the ledger's admission in a later change.
    ADD COLUMN rpm_max integer CHECK (rpm_max > 0),
    ADD COLUMN tpm_max integer CHECK (tpm_max > 0),
    ADD COLUMN daily_spend_max_tokens bigint CHECK (daily_spend_max_tokens > 0),
    ADD COLUMN monthly_spend_max_tokens bigint CHECK (monthly_spend_max_tokens > 0),
    -- Set when a rotation replaced this key: it still calls models through its grace window, manages nothing.
    ADD COLUMN rotated_at timestamptz,
    ADD COLUMN replaced_by text,
    -- Bumped on every change, so a replica applying key states out of order keeps the newest.
    ADD COLUMN revision bigint NOT NULL DEFAULT 1,
    ADD CONSTRAINT api_keys_name_length CHECK (char_length(name) BETWEEN 1 AND 100);
ALTER TABLE api_keys ALTER COLUMN scopes SET DEFAULT '{inference}';
-- Key creation is rate limited per workspace by counting recent mints.
CREATE INDEX api_keys_workspace_created ON api_keys (workspace_id, created_at);

ALTER TABLE workspaces
    ADD COLUMN suspended_at timestamptz,
    ADD COLUMN rpm_max integer CHECK (rpm_max > 0),
    ADD COLUMN tpm_max integer CHECK (tpm_max > 0),
    ADD COLUMN revision bigint NOT NULL DEFAULT 1,
    ADD CONSTRAINT workspaces_name_length CHECK (char_length(name) BETWEEN 1 AND 100);
"""

DOWNGRADE = """
ALTER TABLE workspaces DROP CONSTRAINT workspaces_name_length, DROP COLUMN revision, DROP COLUMN tpm_max,
    DROP COLUMN rpm_max, DROP COLUMN suspended_at;
DROP INDEX api_keys_workspace_created;
ALTER TABLE api_keys DROP CONSTRAINT api_keys_name_length, DROP COLUMN revision, DROP COLUMN replaced_by,
    DROP COLUMN rotated_at, DROP COLUMN monthly_spend_max_tokens, DROP COLUMN daily_spend_max_tokens,
    DROP COLUMN tpm_max, DROP COLUMN rpm_max, DROP COLUMN max_tokens_max, DROP COLUMN allowed_models,
    DROP COLUMN scopes;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
