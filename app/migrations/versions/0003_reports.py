"""What the daily reports need besides counts: each alert sent, and when each camera was down."""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table("alert_log", sa.Column("id", sa.Integer, primary_key=True, autoincrement=True), sa.Column("camera", sa.Text, nullable=False),
                    sa.Column("rule", sa.Text, nullable=False), sa.Column("fired_at", sa.Float, nullable=False), sa.Column("alert", sa.Text, nullable=False))
    op.create_index("alert_log_camera_time", "alert_log", ["camera", "fired_at"])
    op.create_table("downtime", sa.Column("camera", sa.Text, primary_key=True), sa.Column("start", sa.Float, primary_key=True),
                    sa.Column("end", sa.Float))
