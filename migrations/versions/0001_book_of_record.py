"""The book of record: workspaces, ledger accounts, the double-entry journal, jobs, API keys.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None

SCHEMA = """
CREATE TABLE workspaces (
    id text PRIMARY KEY,
    name text NOT NULL,
    -- Exchange rate for top-ups: credit tokens bought by one BDT (the API page's default is 500).
    tokens_per_bdt integer NOT NULL DEFAULT 500 CHECK (tokens_per_bdt > 0),
    -- How far below zero the available balance may go; 0 means strictly prepaid.
    credit_line_tokens bigint NOT NULL DEFAULT 0 CHECK (credit_line_tokens >= 0),
    default_model text,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Four accounts per workspace: available (spendable), held (reserved for running jobs),
-- spent (usage charged), funding (the outside world: grants and top-ups come from here).
CREATE TABLE ledger_accounts (
    id text PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces(id),
    kind text NOT NULL CHECK (kind IN ('available', 'held', 'spent', 'funding')),
    balance bigint NOT NULL DEFAULT 0,
    -- The lowest balance the account may reach; NULL only for funding, which mirrors money paid in.
    floor bigint,
    CONSTRAINT ledger_accounts_no_overdraft CHECK (floor IS NULL OR balance >= floor),
    UNIQUE (workspace_id, kind)
);

CREATE TABLE journal_transactions (
    id bigserial PRIMARY KEY,
    -- Unique per job and entry kind (hold:<job>, settle:<job>, grant:<id>): a replay inserts nothing.
    idempotency_key text NOT NULL UNIQUE,
    kind text NOT NULL,
    workspace_id text NOT NULL REFERENCES workspaces(id),
    job_id text,
    detail jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journal_transactions_workspace_time ON journal_transactions (workspace_id, created_at);

CREATE TABLE postings (
    id bigserial PRIMARY KEY,
    transaction_id bigint NOT NULL REFERENCES journal_transactions(id),
    account_id text NOT NULL REFERENCES ledger_accounts(id),
    amount bigint NOT NULL CHECK (amount <> 0)
);
CREATE INDEX postings_transaction ON postings (transaction_id);
CREATE INDEX postings_account ON postings (account_id);

-- Double entry, enforced by the database at commit: every transaction's postings sum to zero.
CREATE FUNCTION postings_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT coalesce(sum(amount), 0) FROM postings WHERE transaction_id = NEW.transaction_id) <> 0 THEN
        RAISE EXCEPTION 'journal transaction % is unbalanced', NEW.transaction_id;
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER postings_balanced AFTER INSERT ON postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION postings_balanced();

-- The journal is append-only: corrections are new entries.
CREATE FUNCTION journal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only (% on %)', TG_OP, TG_TABLE_NAME;
END $$;
CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION journal_append_only();
CREATE TRIGGER journal_transactions_append_only BEFORE UPDATE OR DELETE ON journal_transactions
    FOR EACH ROW EXECUTE FUNCTION journal_append_only();

CREATE TABLE jobs (
    id text PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces(id),
    api_key_id text NOT NULL,
    model_id text NOT NULL,
    status text NOT NULL
        CHECK (status IN ('queued', 'completed', 'failed', 'rejected', 'cancelled', 'expired')),
    hold_tokens bigint NOT NULL DEFAULT 0,
    input_tokens bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    cost_tokens bigint NOT NULL DEFAULT 0,
    -- Priced usage above the hold that was not charged (a provider overrunning max_tokens): visible to finance.
    uncharged_tokens bigint NOT NULL DEFAULT 0,
    balance_left bigint,
    answered_by text,
    provider text,
    finish_reason text,
    answer text,
    error jsonb,
    tags text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX jobs_workspace_time ON jobs (workspace_id, created_at);

-- Owned by ingress: bearer keys, stored as SHA-256 so a leaked table leaks no usable key.
CREATE TABLE api_keys (
    id text PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces(id),
    name text NOT NULL,
    secret_sha256 text NOT NULL UNIQUE,
    last4 text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX api_keys_workspace ON api_keys (workspace_id);
"""

DROP = """
DROP TABLE api_keys, jobs, postings, journal_transactions, ledger_accounts, workspaces;
DROP FUNCTION postings_balanced, journal_append_only;
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute(DROP)
