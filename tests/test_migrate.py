"""Pollers and pages that start together on a new (or older) database all open it: the schema
is created or migrated once, by one of them, while the others wait."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, inspect

from reportwatch.store.core import Store, _with_driver, open_store
from reportwatch.store.schema import MIGRATIONS, meta, metadata
from tests.helpers import at_once, cli, dashboard_text, write_config

OPENERS = 6
ROUNDS = 5  # each round on a new database: the race is in the first moments only


def new_database(backend: str, tmp_path: Path, request: pytest.FixtureRequest, n: int) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / f'round{n}.db'}"
    return request.getfixturevalue("postgres").new_database()


def assert_current(store: Store) -> None:
    assert store.get_meta("schema_version") == str(len(MIGRATIONS))
    assert set(metadata.tables) <= set(inspect(store.engine).get_table_names())
    if store.engine.dialect.name == "sqlite":  # and the search index with its queue
        assert store.search_queue


def assert_all_open(url: str) -> None:
    """OPENERS stores opened on `url` at once: each one finds the current schema."""
    stores = at_once(*[lambda: open_store(url)] * OPENERS)
    try:
        for store in stores:
            assert_current(store)
    finally:
        for store in stores:
            store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_openers_starting_together_on_a_new_database_all_succeed(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    for n in range(ROUNDS):
        assert_all_open(new_database(backend, tmp_path, request, n))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_openers_starting_together_all_migrate_an_old_database(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    for n in range(ROUNDS):
        url = new_database(backend, tmp_path, request, n)
        # A v1 database; on SQLite in a rollback journal (another tool made it): all openers
        # then switch it to WAL together, the hardest case.
        engine = create_engine(_with_driver(url))
        with engine.begin() as conn:
            MIGRATIONS[0](conn)
            conn.execute(insert(meta).values(key="schema_version", value="1"))
        engine.dispose()
        assert_all_open(url)


def newer_database(tmp_path: Path) -> Path:
    """A config whose database a later reportwatch has already migrated past ours."""
    config = write_config(tmp_path, [])
    open_store(f"sqlite:///{tmp_path / 'reportwatch.db'}").close()
    conn = sqlite3.connect(tmp_path / "reportwatch.db")
    with conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    return config


def test_a_database_from_a_newer_release_is_a_clear_cli_error(tmp_path: Path) -> None:
    config = newer_database(tmp_path)
    for command in (("poll", "--once"), ("items",), ("sources",)):
        result = cli(*command, config=config)
        assert result.returncode == 3, result.stderr
        assert "newer reportwatch" in result.stderr and "v99" in result.stderr
        assert "Traceback" not in result.stderr


def test_the_page_still_shows_the_report_on_a_database_from_a_newer_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_app: None
) -> None:
    shown = dashboard_text(newer_database(tmp_path), monkeypatch)
    assert "微信电商突围" in shown  # the report itself still reads
    assert "数据库不可用" in shown and "newer reportwatch" in shown
