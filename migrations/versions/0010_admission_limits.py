"""Rate windows and spend lookups for admission limits: RPM/TPM per key and per workspace, spend caps per key.

`rate_windows` holds one row per limited subject (`key:<id>` or `workspace:<id>`) and fixed minute window: the
requests and tokens admitted in it. Only the ledger's admission writes it, in the same transaction as the
holds, after locking the workspace's accounts, so counts are exact however many ingress replicas there are.
Spend caps are read from `jobs` by key and admission time, hence the index.

Revision ID: 0010
Revises: 0011
"""

from alembic import op

revision = "0010"
down_revision = "0011"

UPGRADE = """
CREATE TABLE rate_windows (
    subject text NOT NULL,
    window_start timestamptz NOT NULL,
    requests integer NOT NULL CHECK (requests >= 0),
    tokens bigint NOT NULL CHECK (tokens >= 0),
    PRIMARY KEY (subject, window_start)
);
CREATE INDEX jobs_key_time ON jobs (api_key_id, created_at);
"""

DOWNGRADE = """
DROP INDEX jobs_key_time;
DROP TABLE rate_windows;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
