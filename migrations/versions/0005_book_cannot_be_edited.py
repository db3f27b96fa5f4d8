"""The book cannot be edited, and jobs record the terms they were held and billed under.

- Balances move only through postings: a statement-level trigger on `postings` moves them (one UPDATE per
  statement, from the transition table, so batches stay set-based), and `ledger_accounts` refuses any other
  balance change, any account that does not open at zero, any change of an account's identity and any delete.
  Floors stay changeable as before.
- TRUNCATE is refused on the journal tables and the accounts (append-only holds for every statement).
- A journal transaction without postings is refused at commit (a deferred constraint trigger).
- `jobs.terms`: per model of the route, the exact price multipliers ("n/d") and limits used at admission;
  settlement prices with them. `jobs.overrun_tokens`: charged beyond the hold. `jobs.uncharged_tokens` now
  means the priced usage that not even the credit line could cover. `jobs.usage_estimated`: the provider
  reported no usage and the worker estimated it.

Revision ID: 0005
Revises: 0003
"""

from alembic import op

revision = "0005"
down_revision = "0003"

UPGRADE = """
ALTER TABLE jobs
    ADD COLUMN terms jsonb,
    ADD COLUMN overrun_tokens bigint NOT NULL DEFAULT 0 CHECK (overrun_tokens >= 0),
    ADD COLUMN usage_estimated boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN jobs.terms IS
    'per model of the route: {"input": "n/d", "output": "n/d", "context_tokens", "max_output_tokens"} at admission';
COMMENT ON COLUMN jobs.overrun_tokens IS 'part of cost_tokens beyond the hold, charged from available';
COMMENT ON COLUMN jobs.uncharged_tokens IS 'priced usage left unbilled: not even the credit line could cover it';

CREATE FUNCTION postings_move_balances() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ledger_accounts AS account SET balance = account.balance + delta.amount
    FROM (SELECT account_id, sum(amount) AS amount FROM new_postings GROUP BY account_id) AS delta
    WHERE account.id = delta.account_id;
    RETURN NULL;
END $$;
CREATE TRIGGER postings_move_balances AFTER INSERT ON postings
    REFERENCING NEW TABLE AS new_postings FOR EACH STATEMENT EXECUTE FUNCTION postings_move_balances();

-- pg_trigger_depth() is 1 for a statement on ledger_accounts itself and 2 when the postings trigger above
-- runs the update: only the latter may move a balance.
CREATE FUNCTION ledger_accounts_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.balance <> 0 THEN
            RAISE EXCEPTION 'ledger account % must open at zero: balances move only through postings', NEW.id;
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'ledger account % cannot be deleted: the book is append-only', OLD.id;
    END IF;
    IF NEW.balance IS DISTINCT FROM OLD.balance AND pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION 'the balance of % changes only through journal postings', OLD.id;
    END IF;
    IF NEW.id <> OLD.id OR NEW.workspace_id <> OLD.workspace_id OR NEW.kind <> OLD.kind THEN
        RAISE EXCEPTION 'ledger account % cannot change its identity', OLD.id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER ledger_accounts_guard BEFORE INSERT OR UPDATE OR DELETE ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_accounts_guard();

CREATE TRIGGER postings_no_truncate BEFORE TRUNCATE ON postings
    FOR EACH STATEMENT EXECUTE FUNCTION journal_append_only();
CREATE TRIGGER journal_transactions_no_truncate BEFORE TRUNCATE ON journal_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION journal_append_only();
CREATE TRIGGER ledger_accounts_no_truncate BEFORE TRUNCATE ON ledger_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION journal_append_only();

CREATE FUNCTION journal_transaction_not_empty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM postings WHERE transaction_id = NEW.id) THEN
        RAISE EXCEPTION 'journal transaction % (%) has no postings', NEW.id, NEW.idempotency_key;
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER journal_transactions_not_empty AFTER INSERT ON journal_transactions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION journal_transaction_not_empty();
"""

DOWNGRADE = """
DROP TRIGGER journal_transactions_not_empty ON journal_transactions;
DROP FUNCTION journal_transaction_not_empty;
DROP TRIGGER ledger_accounts_no_truncate ON ledger_accounts;
DROP TRIGGER journal_transactions_no_truncate ON journal_transactions;
DROP TRIGGER postings_no_truncate ON postings;
DROP TRIGGER ledger_accounts_guard ON ledger_accounts;
DROP FUNCTION ledger_accounts_guard;
DROP TRIGGER postings_move_balances ON postings;
DROP FUNCTION postings_move_balances;
ALTER TABLE jobs DROP COLUMN terms, DROP COLUMN overrun_tokens, DROP COLUMN usage_estimated;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
