"""Alembic environment for the job store: runs on the connection ``DubStore.migrate`` opens,
inside its transaction, so the store's SQLite pragmas apply and no URL is written anywhere."""

from alembic import context

from dubbing_studio.jobs.schema import Base

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things: autogenerate copy-and-move
)
with context.begin_transaction():
    context.run_migrations()
