"""Finance: versioned exchange rates and prices, top-ups, invoices, auto top-ups, alert thresholds, events.

Rates and prices are append-only versions with an effective time; the database refuses a published version
effective in the past (only the initial versions, written here and by the catalogue seed, start at the
epoch). Two account kinds join the four: `receivable` (credit given on an invoice, settled when it is paid)
and `adjustment` (an operator's correction, with its reason in the entry); the ledger opens them for a
workspace the first time it posts to them, so workspaces that never use them keep their four accounts.

Revision ID: 0008
Revises: 0004
"""

from alembic import op

revision = "0008"
down_revision = "0004"

UPGRADE = """
ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_kind_check;
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_kind_check
    CHECK (kind IN ('available', 'held', 'spent', 'funding', 'receivable', 'adjustment'));

-- A workspace created with its own rate keeps it, as an override in force from the epoch.
CREATE FUNCTION workspace_rate_override() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.tokens_per_bdt <> 500 THEN
        INSERT INTO exchange_rates (workspace_id, tokens_per_bdt_num, tokens_per_bdt_den, effective_at, source,
                                    reason)
        VALUES (NEW.id, NEW.tokens_per_bdt, 1, '1970-01-01T00:00:00Z', 'initial',
                'rate the workspace was created with');
    END IF;
    RETURN NULL;
END $$;

-- Keyset pagination of a workspace's entries, newest first.
CREATE INDEX journal_transactions_workspace_id ON journal_transactions (workspace_id, id);

CREATE FUNCTION finance_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% versions are append-only: publish a new version instead', TG_TABLE_NAME;
END $$;

-- Credit tokens bought by one BDT, an exact rational. workspace_id NULL is the platform default.
CREATE TABLE exchange_rates (
    id bigserial PRIMARY KEY,
    workspace_id text REFERENCES workspaces(id),
    tokens_per_bdt_num bigint NOT NULL CHECK (tokens_per_bdt_num > 0),
    tokens_per_bdt_den bigint NOT NULL CHECK (tokens_per_bdt_den > 0),
    effective_at timestamptz NOT NULL,
    source text NOT NULL CHECK (source IN ('initial', 'admin')),
    reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT exchange_rates_not_in_the_past CHECK (source = 'initial' OR effective_at >= created_at),
    UNIQUE NULLS NOT DISTINCT (workspace_id, effective_at)
);
CREATE TRIGGER exchange_rates_immutable BEFORE UPDATE OR DELETE ON exchange_rates
    FOR EACH ROW EXECUTE FUNCTION finance_versions_immutable();
INSERT INTO exchange_rates (workspace_id, tokens_per_bdt_num, tokens_per_bdt_den, effective_at, source, reason)
VALUES (NULL, 500, 1, '1970-01-01T00:00:00Z', 'initial', 'platform default: 1 BDT = 500 tokens');
-- Workspaces created with another rate keep it, as an override effective from the epoch.
INSERT INTO exchange_rates (workspace_id, tokens_per_bdt_num, tokens_per_bdt_den, effective_at, source, reason)
SELECT id, tokens_per_bdt, 1, '1970-01-01T00:00:00Z', 'initial', 'rate the workspace was created with'
FROM workspaces WHERE tokens_per_bdt <> 500;
CREATE TRIGGER workspaces_rate_override AFTER INSERT ON workspaces
    FOR EACH ROW EXECUTE FUNCTION workspace_rate_override();

-- Price multipliers per model (credit tokens per provider token), exact rationals.
CREATE TABLE price_versions (
    id bigserial PRIMARY KEY,
    model_id text NOT NULL,
    input_num bigint NOT NULL CHECK (input_num >= 0),
    input_den bigint NOT NULL CHECK (input_den > 0),
    output_num bigint NOT NULL CHECK (output_num >= 0),
    output_den bigint NOT NULL CHECK (output_den > 0),
    cached_input_num bigint NOT NULL CHECK (cached_input_num >= 0),
    cached_input_den bigint NOT NULL CHECK (cached_input_den > 0),
    effective_at timestamptz NOT NULL,
    source text NOT NULL CHECK (source IN ('catalogue', 'admin')),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT price_versions_not_in_the_past CHECK (
        effective_at >= created_at OR (source = 'catalogue' AND effective_at = '1970-01-01T00:00:00Z')),
    UNIQUE (model_id, effective_at)
);
CREATE TRIGGER price_versions_immutable BEFORE UPDATE OR DELETE ON price_versions
    FOR EACH ROW EXECUTE FUNCTION finance_versions_immutable();

CREATE TABLE topups (
    id text PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces(id),
    idempotency_key text NOT NULL,
    amount_paisa bigint NOT NULL CHECK (amount_paisa > 0),
    rate_version_id bigint NOT NULL REFERENCES exchange_rates(id),
    tokens bigint NOT NULL CHECK (tokens > 0),
    method text NOT NULL CHECK (method IN ('invoice', 'card')),
    origin text NOT NULL CHECK (origin IN ('manual', 'auto')),
    status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    failure_reason text,
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- A pending top-up with a time here is in the retry queue; the ledger's timer drains it when due.
    next_attempt_at timestamptz,
    provider_reference text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, idempotency_key),
    CHECK (next_attempt_at IS NULL OR status = 'pending')
);
CREATE INDEX topups_workspace_time ON topups (workspace_id, created_at);
CREATE INDEX topups_retry_due ON topups (next_attempt_at) WHERE status = 'pending' AND next_attempt_at IS NOT NULL;

-- The invoiced-credit payment method: credit now, receivable until the invoice is paid.
CREATE TABLE invoices (
    id text PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces(id),
    topup_id text NOT NULL UNIQUE REFERENCES topups(id),
    amount_paisa bigint NOT NULL CHECK (amount_paisa > 0),
    tokens bigint NOT NULL CHECK (tokens > 0),
    status text NOT NULL CHECK (status IN ('open', 'paid')),
    created_at timestamptz NOT NULL DEFAULT now(),
    paid_at timestamptz,
    CHECK ((status = 'paid') = (paid_at IS NOT NULL))
);
CREATE INDEX invoices_workspace ON invoices (workspace_id, created_at);

CREATE TABLE auto_topups (
    workspace_id text PRIMARY KEY REFERENCES workspaces(id),
    threshold_tokens bigint NOT NULL CHECK (threshold_tokens >= 0),
    amount_paisa bigint NOT NULL CHECK (amount_paisa > 0),
    method text NOT NULL CHECK (method IN ('invoice', 'card')),
    enabled boolean NOT NULL DEFAULT true,
    -- Fires once per downward crossing: cleared when it fires, set again when the balance rises above.
    armed boolean NOT NULL DEFAULT true,
    -- Counts firings; the n-th firing's top-up is idempotent by it.
    fired_count bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alert_thresholds (
    id bigserial PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces(id),
    kind text NOT NULL CHECK (kind IN ('absolute', 'percent_of_last_topup')),
    threshold_tokens bigint CHECK (threshold_tokens >= 0),
    percent integer CHECK (percent BETWEEN 1 AND 100),
    armed boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'absolute') = (threshold_tokens IS NOT NULL)),
    CHECK ((kind = 'percent_of_last_topup') = (percent IS NOT NULL))
);
CREATE INDEX alert_thresholds_workspace ON alert_thresholds (workspace_id);

-- History of finance events (top-ups succeeded or failed, thresholds crossed), and their outbox: a row is
-- written in the transaction that caused it and published to Kafka after commit (published_at set then).
CREATE TABLE finance_events (
    id bigserial PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces(id),
    type text NOT NULL CHECK (type IN ('topup.succeeded', 'topup.failed', 'balance.threshold_crossed')),
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX finance_events_workspace ON finance_events (workspace_id, id);
CREATE INDEX finance_events_unpublished ON finance_events (id) WHERE published_at IS NULL;
"""

DOWNGRADE = """
DROP TABLE finance_events, alert_thresholds, auto_topups, invoices, topups, price_versions, exchange_rates;
DROP FUNCTION finance_versions_immutable;
DROP INDEX journal_transactions_workspace_id;
DROP TRIGGER workspaces_rate_override ON workspaces;
DROP FUNCTION workspace_rate_override;
DELETE FROM ledger_accounts WHERE kind IN ('receivable', 'adjustment');
ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_kind_check;
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_kind_check
    CHECK (kind IN ('available', 'held', 'spent', 'funding'));
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
