"""An experiment id names one experiment for good: ids come from a counter that only grows, so
removing the newest experiment does not hand its id to the next one (SQLite reuses the largest
rowid otherwise).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    counters = op.create_table(
        "id_counters",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )
    highest = op.get_bind().execute(sa.text("SELECT MAX(id) FROM experiments")).scalar()
    op.bulk_insert(counters, [{"name": "experiments", "value": highest or 0}])


def downgrade() -> None:
    op.drop_table("id_counters")
