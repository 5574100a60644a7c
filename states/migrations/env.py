"""Alembic environment: run migrations on the engine handed in by `states.db.migrate`, or on
QORGAU_DATABASE_URL when run from the alembic command line."""
from alembic import context

from states.db import make_engine
from states.tables import metadata

config = context.config
engine = config.attributes.get("engine") or make_engine()

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=engine.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
    if connection.in_transaction():
        connection.commit()
