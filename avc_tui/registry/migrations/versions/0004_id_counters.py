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
    bind = op.get_bind()
    highest = bind.execute(sa.text("SELECT MAX(id) FROM experiments")).scalar() or 0
    if bind.dialect.name == "postgresql":
        # Its sequence may already be past the largest id left (the newest rows were removed).
        sequence = bind.execute(sa.text(
            "SELECT pg_get_serial_sequence('experiments', 'id')")).scalar()
        if sequence:
            used = bind.execute(sa.text(f"SELECT last_value, is_called FROM {sequence}")).one()
            highest = max(highest, used[0] if used[1] else used[0] - 1)
    op.bulk_insert(counters, [{"name": "experiments", "value": highest}])


def downgrade() -> None:
    op.drop_table("id_counters")
