"""Store trouble: a missing, locked or read-only database gives a clear banner in the app and a
clear message (exit code 3) from the CLI, never a traceback.

Read-only: the tests run as root, and root writes through chmod 0444, so the database is opened
read-only by SQLite itself (`sqlite:///file:PATH?mode=ro&uri=true` in REPORTWATCH_DATABASE_URL).
SQLite then refuses writes with the same "attempt to write a readonly database" a file without
write permission gives an ordinary user.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from reportwatch.config.settings import load_config
from reportwatch.poll.cycle import run_cycle
from reportwatch.store.core import open_store
from tests.feedserver import FeedServer, rss
from tests.helpers import ROOT, SHOP, TENCENT, write_config

REPORT_TITLE = "微信电商突围"
BUSY = "0.5"  # REPORTWATCH_BUSY_TIMEOUT (seconds) for these tests; the default is 30


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reportwatch.cli", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=120, env={**os.environ, **(env or {})},
    )  # fmt: skip


def assert_clear_failure(result: subprocess.CompletedProcess[str], words: str) -> None:
    assert result.returncode == 3, result.stderr
    assert words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "sqlalchemy" not in result.stderr.lower()


def app_text(app: AppTest) -> str:
    parts = [*app.markdown, *app.error, *app.warning, *app.info, *app.caption, *app.title]
    text = "\n".join(str(p.value) for p in parts)
    return text.replace("\u2060", "").replace("\\", "").replace("**", "")  # markup out


def run_app(**env: str) -> AppTest:
    app = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    previous = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        return app.run()
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(autouse=True)
def app_env(offline_app: None) -> Iterator[None]:
    yield
    st.cache_resource.clear()  # stores and pollers of this test's files go (pollers stop)


@pytest.fixture
def polled(feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config whose database holds two matched entries, closed again (no -wal left)."""
    feed_server.set_feed("/feed.xml", rss([TENCENT, SHOP]))
    config = write_config(tmp_path, [{"name": "本地源", "url": feed_server.url("/feed.xml")}])
    monkeypatch.setenv("REPORTWATCH_CONFIG", str(config))
    loaded = load_config(config)
    store = open_store(loaded.config.database_url)
    run_cycle(loaded, store, force=True)
    store.close()
    return config


def test_error_details_are_off_by_default() -> None:
    settings = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert settings["client"]["showErrorDetails"] == "none"


def test_missing_database_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path, [], database_url="sqlite:///no-such-folder/x.db")
    monkeypatch.setenv("REPORTWATCH_CONFIG", str(config))
    for command in (["poll", "--once"], ["items"], ["sources"]):
        result = run_cli(*command, "--config", str(config))
        assert_clear_failure(result, "the database folder does not exist")
    app = run_app()
    assert not app.exception
    text = app_text(app)
    assert REPORT_TITLE in text  # the report itself still shows
    assert "数据库不可用" in text and "no-such-folder" in text
    for page in ("pages/explorer.py", "pages/trends.py", "pages/sources.py"):
        other = AppTest.from_file(str(ROOT / page), default_timeout=60).run()
        assert not other.exception, page
        assert "数据库不可用" in app_text(other), page


def test_missing_database_file_is_created(tmp_path: Path) -> None:
    config = write_config(tmp_path, [], database_url="sqlite:///fresh.db")
    result = run_cli("items", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "fresh.db").exists()


def test_locked_database(polled: Path) -> None:
    """Another process holds the write lock: writers fail clearly within the busy timeout,
    readers carry on (WAL)."""
    db = polled.parent / "reportwatch.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        env = {"REPORTWATCH_BUSY_TIMEOUT": BUSY}
        start = time.monotonic()
        result = run_cli("poll", "--once", "--config", str(polled), env=env)
        assert_clear_failure(result, "the database is locked by another process")
        assert time.monotonic() - start < float(BUSY) + 15  # start-up plus the busy timeout
        readers = run_cli("items", "--config", str(polled), env=env)
        assert readers.returncode == 0 and TENCENT["title"] in readers.stdout, readers.stderr
        app = run_app(**env)
        assert not app.exception
        assert TENCENT["title"] in app_text(app)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_locked_database_without_wal(polled: Path) -> None:
    """A tool switched the file to a rollback journal and holds an exclusive lock: nothing can
    read it. The app names the problem in a banner and keeps showing the report."""
    db = polled.parent / "reportwatch.db"
    holder = sqlite3.connect(db, isolation_level=None)
    assert holder.execute("PRAGMA journal_mode=DELETE").fetchone() == ("delete",)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE meta SET value = value")  # a write: the lock is really taken
    try:
        env = {"REPORTWATCH_BUSY_TIMEOUT": BUSY}
        for command in (["items"], ["poll", "--once"]):
            result = run_cli(*command, "--config", str(polled), env=env)
            assert_clear_failure(result, "the database is locked by another process")
        app = run_app(**env)
        assert not app.exception
        text = app_text(app)
        assert REPORT_TITLE in text
        assert "数据库不可用" in text and "locked by another process" in text
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_read_only_database(polled: Path) -> None:
    db = polled.parent / "reportwatch.db"
    with sqlite3.connect(db) as conn:  # due now: the app's poller will try to write
        conn.execute("UPDATE sources SET next_due = NULL")
    conn.close()
    env = {"REPORTWATCH_DATABASE_URL": f"sqlite:///file:{db}?mode=ro&uri=true"}
    result = run_cli("poll", "--once", "--config", str(polled), env=env)
    assert_clear_failure(result, "the database is read-only")
    readers = run_cli("items", "--config", str(polled), env=env)
    assert readers.returncode == 0 and TENCENT["title"] in readers.stdout, readers.stderr
    # The app shows what is stored, and says why nothing new arrives (its poller fails).
    deadline = time.monotonic() + 30
    while True:
        app = run_app(REPORTWATCH_EMBEDDED_POLLER="1", **env)
        assert not app.exception
        text = app_text(app)
        assert TENCENT["title"] in text and REPORT_TITLE in text
        if "the database is read-only" in text:
            break
        assert time.monotonic() < deadline, text
    assert "后台轮询失败" in text
    with sqlite3.connect(db) as conn:  # nothing was written through the read-only URL
        assert conn.execute("SELECT count(*) FROM entries").fetchone() == (2,)
