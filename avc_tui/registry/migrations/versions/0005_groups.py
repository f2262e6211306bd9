"""Groups: the experiments one `avc grid` registered (its backbones × heads × trials), listed,
resumed, cancelled, removed and compared as one. Each experiment knows its group and the values
of the group's axes it was run with (``{"seed": 2}``).

``group_id`` is a plain column: SQLite adds a column with a foreign key only by recreating the
table, which would drop the metric points that refer to it.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("axes", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.add_column("experiments", sa.Column("group_id", sa.Integer))
    op.add_column("experiments", sa.Column("axes", sa.JSON))
    op.create_index("ix_experiments_group", "experiments", ["group_id"])
    counters = sa.table("id_counters", sa.column("name", sa.String), sa.column("value", sa.Integer))
    op.bulk_insert(counters, [{"name": "groups", "value": 0}])


def downgrade() -> None:
    op.execute("DELETE FROM id_counters WHERE name = 'groups'")
    op.drop_index("ix_experiments_group", "experiments")
    with op.batch_alter_table("experiments") as batch:
        batch.drop_column("axes")
        batch.drop_column("group_id")
    op.drop_table("groups")
