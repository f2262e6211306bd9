"""Index metric points by (experiment, key): the latest epoch metrics of a run that streams
millions of step points stay one index lookup away.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_metric_points_experiment_key", "metric_points",
                    ["experiment_id", "key", "id"])


def downgrade() -> None:
    op.drop_index("ix_metric_points_experiment_key", "metric_points")
