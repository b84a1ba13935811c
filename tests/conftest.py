"""Shared fixtures. Keep this small; helpers live in their own modules (tests/feedserver.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.feedserver import FeedServer
from tests.pgserver import PostgresServer


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A started local FeedServer on 127.0.0.1, stopped after the test."""
    server = FeedServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def offline_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """For AppTest: the app polls only when a test runs a cycle itself, on its own database."""
    monkeypatch.setenv("REPORTWATCH_EMBEDDED_POLLER", "0")
    monkeypatch.delenv("REPORTWATCH_DATABASE_URL", raising=False)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One local PostgreSQL server for the session (started only if a test asks for it)."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each store test twice: on a SQLite file beside the config, and on a new PostgreSQL
    database (the engine for several hosts)."""
    if request.param == "sqlite":
        return "sqlite:///reportwatch.db"
    return request.getfixturevalue("postgres").new_database()
