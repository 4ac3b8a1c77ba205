"""What replicas share: who counted which person (so a retried write counts once), which replica watches which
camera (leases), each watched camera's live state (heartbeats), the live replicas, alert state and the audit log."""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table("counted", sa.Column("camera", sa.Text, primary_key=True), sa.Column("person", sa.Text, primary_key=True),
                    sa.Column("minute", sa.Integer, nullable=False))
    op.create_index("counted_minute", "counted", ["minute"])
    op.create_table("replicas", sa.Column("name", sa.Text, primary_key=True), sa.Column("seen_at", sa.Float, nullable=False))
    op.create_table("leases", sa.Column("camera", sa.Text, primary_key=True), sa.Column("replica", sa.Text, nullable=False),
                    sa.Column("expires", sa.Float, nullable=False))
    op.create_table("heartbeats", sa.Column("camera", sa.Text, primary_key=True), sa.Column("replica", sa.Text, nullable=False),
                    sa.Column("at", sa.Float, nullable=False), sa.Column("state", sa.Text, nullable=False))
    op.create_table("alert_state", sa.Column("camera", sa.Text, primary_key=True), sa.Column("rule", sa.Text, primary_key=True),
                    sa.Column("firing", sa.Boolean, nullable=False), sa.Column("last_sent", sa.Float))
    op.create_table("audit", sa.Column("id", sa.Integer, primary_key=True, autoincrement=True), sa.Column("at", sa.Float, nullable=False),
                    sa.Column("key", sa.Text, nullable=False), sa.Column("action", sa.Text, nullable=False),
                    sa.Column("camera", sa.Text, nullable=False), sa.Column("changed", sa.Text, nullable=False))
