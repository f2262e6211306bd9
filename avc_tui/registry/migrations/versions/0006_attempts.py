"""Attempts: each time a worker starts an experiment (a first run, a resume, a retry after its
node died) is one attempt, with where it ran (host, Ray node, GPUs), when, and how and why it
ended. The experiment keeps the number of its latest attempt and that attempt's Ray node.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("experiment_id", sa.Integer,
                  sa.ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("executor", sa.String(16), nullable=False),
        sa.Column("host", sa.String(200)),
        sa.Column("node_id", sa.String(64)),
        sa.Column("gpus", sa.String(64)),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("ended_at", sa.DateTime),
        sa.Column("status", sa.String(16)),
        sa.Column("reason", sa.Text),
    )
    op.create_index("ix_attempts_experiment", "attempts", ["experiment_id", "number"])
    op.add_column("experiments", sa.Column("attempt", sa.Integer, nullable=False,
                                           server_default="0"))
    op.add_column("experiments", sa.Column("node_id", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.drop_column("node_id")
        batch.drop_column("attempt")
    op.drop_index("ix_attempts_experiment", "attempts")
    op.drop_table("attempts")
