"""Batches: uploaded files, batches and their lines (ingress writes them), and each batch's feed (the ledger).

- `batch_files`, `batch_file_chunks`: a file uploaded through the OpenAI surface (`files.create`, purpose
  `batch`), stored as it came, in chunks of at most 1 MiB, until a batch reads it.
- `batches`: one row per batch (ingress inserts it; `cancel_requested_at` is ingress's to set). Its good lines
  are `batch_lines`, one row each with the job it becomes (`job`: the `ChatJobSubmitted` as JSON, its id
  `job_id`); bad lines are only counted and described in `errors` (the first ones, by line number).
- `batch_feeds`: the ledger's progress through a batch: the next line to release, whether it waits for credit,
  and its terminal state. The ledger is its only writer, and it writes nothing else here but the retention
  pruner's deletes of expired batches (documented in the README).

A line becomes a job (`jobs`, the ledger's table) only when the feeder holds credit for it and dispatches it, so
an unreleased line holds nothing and costs nothing.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE batch_files (
    id text PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces(id),
    purpose text NOT NULL,
    filename text NOT NULL,
    bytes bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX batch_files_workspace ON batch_files (workspace_id, created_at);

CREATE TABLE batch_file_chunks (
    file_id text NOT NULL REFERENCES batch_files(id) ON DELETE CASCADE,
    seq integer NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (file_id, seq)
);

CREATE TABLE batches (
    id text PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces(id),
    api_key_id text NOT NULL,
    endpoint text NOT NULL,
    input_file_id text,
    completion_window_s integer NOT NULL CHECK (completion_window_s > 0),
    metadata jsonb,
    total_lines integer NOT NULL DEFAULT 0 CHECK (total_lines >= 0),
    invalid_lines integer NOT NULL DEFAULT 0 CHECK (invalid_lines >= 0),
    errors jsonb NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    cancel_requested_at timestamptz
);
CREATE INDEX batches_workspace ON batches (workspace_id, created_at, id);

CREATE TABLE batch_lines (
    batch_id text NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    line_no integer NOT NULL CHECK (line_no > 0),
    custom_id text NOT NULL,
    job_id text NOT NULL,
    model_id text NOT NULL,
    pool text NOT NULL,
    job jsonb NOT NULL,
    PRIMARY KEY (batch_id, line_no)
);

CREATE TABLE batch_feeds (
    batch_id text PRIMARY KEY REFERENCES batches(id) ON DELETE CASCADE,
    workspace_id text NOT NULL REFERENCES workspaces(id),
    status text NOT NULL DEFAULT 'in_progress'
        CHECK (status IN ('in_progress', 'cancelling', 'expiring', 'completed', 'cancelled', 'expired')),
    -- Lines below this number have become jobs; the rest hold nothing yet.
    next_line integer NOT NULL DEFAULT 1 CHECK (next_line > 0),
    waiting_for_credit_since timestamptz,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX batch_feeds_active ON batch_feeds (started_at) WHERE finished_at IS NULL;
CREATE INDEX batch_feeds_finished ON batch_feeds (finished_at) WHERE finished_at IS NOT NULL;
"""

DOWNGRADE = """
DROP TABLE batch_feeds, batch_lines, batches, batch_file_chunks, batch_files;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
