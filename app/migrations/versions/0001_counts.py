"""The schema before Alembic: cameras and the people counted per minute, in all, per zone and per line. A SQLite
file made by an earlier version already holds these tables and is taken over as it is."""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    def count() -> sa.Column:
        return sa.Column("count", sa.Integer, nullable=False)
    tables = {
        "cameras": [sa.Column("id", sa.Text, primary_key=True), sa.Column("spec", sa.Text, nullable=False)],
        "people": [sa.Column("camera", sa.Text, primary_key=True), sa.Column("minute", sa.Integer, primary_key=True),
                   sa.Column("label", sa.Text, primary_key=True), count()],
        "zone_people": [sa.Column("camera", sa.Text, primary_key=True), sa.Column("minute", sa.Integer, primary_key=True),
                        sa.Column("zone", sa.Text, primary_key=True), sa.Column("label", sa.Text, primary_key=True), count()],
        "crossings": [sa.Column("camera", sa.Text, primary_key=True), sa.Column("minute", sa.Integer, primary_key=True),
                      sa.Column("line", sa.Text, primary_key=True), sa.Column("direction", sa.Text, primary_key=True),
                      sa.Column("label", sa.Text, primary_key=True), count()],
    }
    for name, columns in tables.items():
        if name not in have:
            op.create_table(name, *columns)
