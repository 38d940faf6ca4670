"""Alembic environment: runs migrations on the connection aggregator.store.database hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from aggregator.models import Base

config = context.config
target_metadata = Base.metadata


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # The full-text index tables are created by hand in migrations (FTS5 / tsvector); autogenerate must not
    # try to drop them.
    return not (type_ == "table" and name is not None and name.startswith("items_fts"))


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True, include_object=include_object
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    # `alembic` run by hand with sqlalchemy.url set on the command line or in an ini file.
    engine = engine_from_config(config.get_section(config.config_ini_section) or {}, poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(
            connection=conn, target_metadata=target_metadata, render_as_batch=True, include_object=include_object
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
