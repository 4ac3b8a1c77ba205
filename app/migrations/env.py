"""Alembic's environment: the migrations run on the connection app.database.migrate hands over."""
from alembic import context

context.configure(connection=context.config.attributes["connection"], render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
