"""The book's double-entry checks run once per statement instead of once per row at commit.

- `postings_balanced` was a deferred constraint trigger: at every commit, one PL/pgSQL call per posting, each
  summing its transaction's postings through the index. It is now an AFTER INSERT trigger FOR EACH STATEMENT
  that sums the statement's own postings by transaction (its transition table): the postings one statement adds
  to a transaction must sum to zero. That keeps every transaction balanced: postings are only ever inserted
  (updates, deletes and truncation are refused, migrations 0001 and 0005), every transaction was balanced when
  this migration ran (the old check), and each later insert adds zero to each transaction it touches.
- `journal_transaction_not_empty` (one call per journal transaction at commit) now also runs once per statement:
  the journal transactions a statement inserts must have postings when the statement ends. Every writer inserts a
  transaction and its postings in one statement (`ledger.journal.ENTRY_CTES`), so nothing legitimate changes; a
  transaction written alone, or a one-legged entry, is refused at its statement rather than at commit.

Why: at COMMIT, while the workspaces' accounts were still locked, the per-row calls cost about a quarter of the
book's time per entry. Measured on this machine, one database with each form side by side (400 hold entries and
their 800 postings written by ENTRY_CTES' statement, then committed; median of 15): 35.8 ms with the deferred
checks (10.7 ms of it in COMMIT), 27.1 ms with these (0.6 ms in COMMIT); one entry alone, 0.83 against 0.69 ms.
A batch feeder's tick kept the batch workspace's accounts about 10 ms longer per 400 jobs released, and its
settlements waited that long.

Revision ID: 0026
Revises: 0025
"""

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

UPGRADE = """
DROP TRIGGER postings_balanced ON postings;
DROP FUNCTION postings_balanced();
CREATE FUNCTION postings_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unbalanced bigint;
BEGIN
    SELECT transaction_id INTO unbalanced FROM new_postings
    GROUP BY transaction_id HAVING sum(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal transaction % is unbalanced', unbalanced;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER postings_balanced AFTER INSERT ON postings REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION postings_balanced();

DROP TRIGGER journal_transactions_not_empty ON journal_transactions;
DROP FUNCTION journal_transaction_not_empty();
CREATE FUNCTION journal_transaction_not_empty() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    empty record;
BEGIN
    SELECT t.id, t.idempotency_key INTO empty FROM new_transactions t
    WHERE NOT EXISTS (SELECT 1 FROM postings p WHERE p.transaction_id = t.id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal transaction % (%) has no postings', empty.id, empty.idempotency_key;
    END IF;
    RETURN NULL;
END $$;
-- Planned once per connection, possibly while `postings` looks small: never a scan of the whole book (0022).
ALTER FUNCTION journal_transaction_not_empty() SET enable_seqscan = off;
CREATE TRIGGER journal_transactions_not_empty AFTER INSERT ON journal_transactions
    REFERENCING NEW TABLE AS new_transactions FOR EACH STATEMENT EXECUTE FUNCTION journal_transaction_not_empty();
"""

DOWNGRADE = """
DROP TRIGGER journal_transactions_not_empty ON journal_transactions;
DROP FUNCTION journal_transaction_not_empty();
CREATE FUNCTION journal_transaction_not_empty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM postings WHERE transaction_id = NEW.id) THEN
        RAISE EXCEPTION 'journal transaction % (%) has no postings', NEW.id, NEW.idempotency_key;
    END IF;
    RETURN NULL;
END $$;
ALTER FUNCTION journal_transaction_not_empty() SET enable_seqscan = off;
CREATE CONSTRAINT TRIGGER journal_transactions_not_empty AFTER INSERT ON journal_transactions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION journal_transaction_not_empty();

DROP TRIGGER postings_balanced ON postings;
DROP FUNCTION postings_balanced();
CREATE FUNCTION postings_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT coalesce(sum(amount), 0) FROM postings WHERE transaction_id = NEW.transaction_id) <> 0 THEN
        RAISE EXCEPTION 'journal transaction % is unbalanced', NEW.transaction_id;
    END IF;
    RETURN NULL;
END $$;
ALTER FUNCTION postings_balanced() SET enable_seqscan = off;
CREATE CONSTRAINT TRIGGER postings_balanced AFTER INSERT ON postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION postings_balanced();
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
