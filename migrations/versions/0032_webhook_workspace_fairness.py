"""The webhook dispatcher claims fairly across workspaces: an index of pending deliveries by workspace.

The claim walks the workspaces that have pending deliveries (a skip scan of this index, one probe a workspace)
and takes each one's oldest due deliveries in turn, so one workspace's backlog neither comes first nor costs the
claim a scan of it.

Revision ID: 0032
Revises: 0031
"""

from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX webhook_deliveries_workspace_due ON webhook_deliveries (workspace_id, next_attempt_at, id) "
        "WHERE state = 'pending'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX webhook_deliveries_workspace_due")
