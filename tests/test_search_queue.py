"""Schema v3: new rows wait in a queue for the search index; search stays complete meanwhile."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, delete, insert, text, update

from reportwatch.config.settings import load_config
from reportwatch.poll.loop import EmbeddedPoller
from reportwatch.store import explore
from reportwatch.store.core import Store, open_store
from reportwatch.store.explore import Filters
from reportwatch.store.schema import MIGRATIONS, entries, meta, sources
from tests.feedserver import FeedServer, rss
from tests.helpers import APPLE, ROOT, SHOP, TENCENT, cli, item, write_config


def found(store: Store, term: str) -> list[str]:
    return [r["title"] for r in explore.rows(store, Filters(text=term, matched_only=False))]


def pending(store: Store) -> int:
    with store.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM entries_fts_pending").scalar_one()


def assert_sound(store: Store) -> None:
    """SQLite's and FTS5's own checks, and the index agrees with the rows it claims to hold."""
    with store.engine.begin() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
        conn.exec_driver_sql("INSERT INTO entries_fts(entries_fts) VALUES ('integrity-check')")
        rows = conn.exec_driver_sql("SELECT id, title FROM entries").all()
        for entry_id, title in rows:  # every indexed row is found by its full title
            hits = conn.exec_driver_sql(
                "SELECT rowid FROM entries_fts WHERE entries_fts MATCH ?",
                ('"' + title.replace('"', '""') + '"',),
            ).scalars()
            assert entry_id in set(hits), title


def polled_once(feed_server: FeedServer, folder: Path, items: list[dict[str, object]]) -> Path:
    feed_server.set_feed("/feed.xml", rss(items))
    config = write_config(folder, [{"name": "news", "url": feed_server.url("/feed.xml")}])
    result = cli("poll", "--once", config=config)
    assert result.returncode == 0, result.stderr
    return config


def test_poll_once_leaves_rows_queued_and_search_finds_them_before_and_after_catch_up(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    config = polled_once(feed_server, tmp_path, [TENCENT, SHOP, APPLE])
    store = open_store(load_config(config).config.database_url)
    assert pending(store) == 3  # --once does not index: that is the next worker's job
    assert found(store, "第三季度") == ["腾讯发布财报"]  # summary, via the queue
    assert found(store, "视频号小店") == ["视频号小店推出新规"]
    assert store.index_pending() == 3
    assert pending(store) == 0 and store.index_pending() == 0
    assert found(store, "第三季度") == ["腾讯发布财报"]  # now via the index
    assert found(store, "视频号小店") == ["视频号小店推出新规"]
    assert_sound(store)


def test_changed_titles_are_found_by_new_text_only_queued_or_indexed(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    config = polled_once(feed_server, tmp_path, [TENCENT, APPLE])
    store = open_store(load_config(config).config.database_url)
    # Changed while queued: a feed edits its headline before any catch-up.
    feed_server.set_feed("/feed.xml", rss([dict(TENCENT, title="腾讯修订季度财报"), APPLE]))
    assert cli("poll", "--once", config=config).returncode == 0
    assert found(store, "腾讯修订季度") == ["腾讯修订季度财报"]
    assert found(store, "腾讯发布财报") == []
    store.index_pending()
    assert found(store, "腾讯修订季度") == ["腾讯修订季度财报"]
    assert_sound(store)
    # Changed after indexing: leaves the index at once and waits in the queue with its new text.
    with store.engine.begin() as conn:
        conn.execute(
            update(entries).where(entries.c.title == "苹果发布新手机").values(title="苹果改名了")
        )
    assert found(store, "苹果改名了") == ["苹果改名了"]
    assert found(store, "苹果发布新") == []
    assert pending(store) == 1
    store.index_pending()
    assert found(store, "苹果改名了") == ["苹果改名了"] and found(store, "苹果发布新") == []
    assert_sound(store)


def test_pruned_and_deleted_rows_vanish_from_search_queued_or_indexed(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    config = polled_once(feed_server, tmp_path, [TENCENT, APPLE])
    store = open_store(load_config(config).config.database_url)
    store.index_pending()  # TENCENT and APPLE indexed
    feed_server.set_feed("/feed.xml", rss([TENCENT, APPLE, item("a4", "苹果再发布新平板", "")]))
    assert cli("poll", "--once", config=config).returncode == 0  # a4 queued
    with store.engine.begin() as conn:
        conn.execute(entries.update().values(first_seen=datetime.now(UTC) - timedelta(days=40)))
    assert store.prune(datetime.now(UTC), 30) == 2  # APPLE (indexed) and a4 (queued), unmatched
    assert found(store, "苹果发布新") == [] and found(store, "再发布新平板") == []
    assert pending(store) == 0
    with store.engine.begin() as conn:
        conn.execute(delete(entries).where(entries.c.title == "腾讯发布财报"))
    assert found(store, "第三季度") == []
    store.index_pending()
    assert_sound(store)


def v2_database(path: Path) -> str:
    """A database as schema v2 left it: every row indexed by the insert trigger."""
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for step in MIGRATIONS[:2]:
            step(conn)
        conn.execute(insert(meta).values(key="schema_version", value="2"))
        conn.execute(insert(sources).values(id=1, name="旧源", url="http://x", enabled=True))
        for n, title in enumerate(["老条目说视频号", "老条目说财报"]):
            row = dict(source_id=1, key=f"k{n}", title=title, summary="旧摘要内容",
                       first_seen=now, updated_at=now, sort_time=now, matched=False)  # fmt: skip
            conn.execute(insert(entries).values(**row))
    engine.dispose()
    return url


def test_migration_from_v2_keeps_search_working(tmp_path: Path) -> None:
    store = open_store(v2_database(tmp_path / "v2.db"))
    assert store.get_meta("schema_version") == str(len(MIGRATIONS))
    assert pending(store) == 0  # v2 had indexed everything
    assert found(store, "说视频号") == ["老条目说视频号"]
    assert sorted(found(store, "旧摘要内容")) == ["老条目说视频号", "老条目说财报"]
    with store.engine.begin() as conn:
        conn.execute(update(entries).where(entries.c.key == "k1").values(title="老条目改了"))
        conn.execute(delete(entries).where(entries.c.key == "k0"))
    assert found(store, "说视频号") == [] and found(store, "说财报") == []
    assert found(store, "老条目改了") == ["老条目改了"]
    store.index_pending()
    assert found(store, "旧摘要内容") == ["老条目改了"]
    assert_sound(store)


def test_poll_watch_indexes_after_each_cycle(feed_server: FeedServer, tmp_path: Path) -> None:
    feed_server.set_feed("/feed.xml", rss([TENCENT, SHOP]))
    config = write_config(tmp_path, [{"name": "news", "url": feed_server.url("/feed.xml")}])
    command = [sys.executable, "-m", "reportwatch.cli", "poll", "--watch", "--config", str(config)]
    worker = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert worker.stderr is not None
        for line in worker.stderr:  # the summary line comes after the cycle's catch-up
            if line.startswith("polled"):
                break
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    store = open_store(load_config(config).config.database_url)
    assert pending(store) == 0
    assert found(store, "第三季度") == ["腾讯发布财报"]
    assert_sound(store)


class SignallingStore(Store):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.indexed = threading.Event()

    def index_pending(self) -> int:
        done = super().index_pending()
        self.indexed.set()
        return done


def test_embedded_poller_indexes_after_its_cycle(feed_server: FeedServer, tmp_path: Path) -> None:
    feed_server.set_feed("/feed.xml", rss([TENCENT, SHOP]))
    config = write_config(tmp_path, [{"name": "news", "url": feed_server.url("/feed.xml")}])
    loaded = load_config(config)
    store = SignallingStore(loaded.config.database_url)
    poller = EmbeddedPoller(lambda: loaded, store).start()
    try:
        assert store.indexed.wait(timeout=60)
    finally:
        poller.stop()
    assert poller.last_error is None
    assert pending(store) == 0
    with store.engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM entries")).scalar_one()
    assert count == 2 and found(store, "视频号小店") == ["视频号小店推出新规"]
    assert_sound(store)
