"""The body of every service's Alembic env.py: online migrations on a given connection."""

from alembic import context
from sqlalchemy import MetaData


def run_migrations(target_metadata: MetaData) -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations with services.runtime.db.migrate, not the alembic CLI")
    schema = config.attributes["schema"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=schema,
        include_schemas=False,
    )
    with context.begin_transaction():
        context.run_migrations()
