"""INSERT … ON CONFLICT for SQLite and PostgreSQL alike: the one place that picks the dialect."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table


def insert_new(
    conn: Connection, table: Table, values: dict[str, Any] | list[dict[str, Any]],
    key: str | tuple[str, ...] | list[str], update: dict[str, Any] | None = None,
) -> int:  # fmt: skip
    """INSERT that leaves (or, with `update`, updates) a row another writer inserted first with
    the same key instead of failing: pollers that start together all add new sources, rule
    state, story keys and outbox rows. Returns how many rows it inserted or updated."""
    if not values:
        return 0
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    keys = [key] if isinstance(key, str) else list(key)
    statement = insert(table)
    if update:
        done = conn.execute(
            statement.on_conflict_do_update(index_elements=keys, set_=update), values
        )
    else:
        done = conn.execute(statement.on_conflict_do_nothing(index_elements=keys), values)
    return max(done.rowcount or 0, 0)
