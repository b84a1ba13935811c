"""The two ways of writing a source's results (driver SQL on SQLite, Core elsewhere) agree.

The Core path is what PostgreSQL runs; it runs here on PostgreSQL itself, and on SQLite by
emptying the driver list, so both paths are checked against the same cycles and must leave the
same rows.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from reportwatch.config.settings import load_config
from reportwatch.poll.cycle import run_cycle
from reportwatch.store import writes
from reportwatch.store.core import Store, open_store
from reportwatch.store.queries import matched_items
from reportwatch.store.schema import entries, matches, sources
from tests.feedserver import FeedServer, rss
from tests.helpers import APPLE, SHOP, TENCENT, item, write_config

TIMES = ("first_seen", "updated_at", "sort_time", "published")


def dump(store: Store) -> dict[str, Any]:
    with store.engine.connect() as conn:
        rows = [r._asdict() for r in conn.execute(select(entries).order_by(entries.c.key))]
        tags = conn.execute(select(matches).order_by(matches.c.entry_id, matches.c.tag)).all()
        health = conn.execute(select(sources).order_by(sources.c.name)).all()
    return {"entries": rows, "matches": [r._asdict() for r in tags],
            "sources": [r._asdict() for r in health]}  # fmt: skip


def three_cycles(
    feed_server: FeedServer, folder: Path, name: str, database_url: str
) -> dict[str, Any]:
    """New entries, then a changed title and a new entry, then a feed that went bad."""
    feed_server.set_feed(f"/{name}.xml", rss([TENCENT, APPLE]))
    listed = [{"name": "news", "url": feed_server.url(f"/{name}.xml")}]
    config = write_config(folder, listed, database_url=database_url)
    loaded = load_config(config)
    store = open_store(loaded.config.database_url)
    first = run_cycle(loaded, store, force=True)
    before = dump(store)
    changed = dict(APPLE, title="苹果发布新手机,腾讯回应")  # now matches 腾讯
    feed_server.set_feed(f"/{name}.xml", rss([TENCENT, changed, SHOP, item("a9", "无关新闻")]))
    second = run_cycle(loaded, store, force=True)
    after = dump(store)
    feed_server.set_feed(f"/{name}.xml", b"<html>not a feed</html>")
    run_cycle(loaded, store, force=True)
    return {"reports": (first.new_entries, second.new_entries), "before": before,
            "after": after, "bad": dump(store), "items": matched_items(store)}  # fmt: skip


def comparable(state: dict[str, Any]) -> dict[str, Any]:
    """Without wall-clock times (the server's Last-Modified too) and the feed path."""
    clocks = ("last_checked", "last_ok", "next_due", "latency", "lease_until", "url",
              "last_modified")  # fmt: skip
    out: dict[str, Any] = {}
    for table, rows in state.items():
        drop = TIMES[:3] if table != "sources" else clocks
        out[table] = [{k: v for k, v in row.items() if k not in drop} for row in rows]
    return out


@pytest.fixture
def both(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
):
    """The driver path on SQLite; the Core path on SQLite or on PostgreSQL."""
    (tmp_path / "driver").mkdir()
    (tmp_path / "core").mkdir()
    driver = three_cycles(feed_server, tmp_path / "driver", "d", "sqlite:///reportwatch.db")
    monkeypatch.setattr(writes, "DRIVER_SQL_DIALECTS", set())
    core = three_cycles(feed_server, tmp_path / "core", "c", database_url)
    return driver, core


def test_driver_and_core_paths_leave_the_same_rows(both) -> None:
    driver, core = both
    assert driver["reports"] == core["reports"] == (2, 2)
    for stage in ("before", "after", "bad"):
        assert comparable(driver[stage]) == comparable(core[stage]), stage
    assert [i.as_dict() | {"first_seen": None} for i in driver["items"]] == [
        i.as_dict() | {"first_seen": None} for i in core["items"]
    ]


def test_each_path_keeps_first_seen_and_counts_entries(both) -> None:
    for run in both:
        old = {r["key"]: r for r in run["before"]["entries"]}
        new = {r["key"]: r for r in run["after"]["entries"]}
        for key, row in old.items():
            assert new[key]["first_seen"] == row["first_seen"]  # kept through the update
            assert row["first_seen"].tzinfo is not None  # read back as aware UTC
        apple = next(k for k in new if new[k]["title"].startswith("苹果"))
        assert new[apple]["updated_at"] > old[apple]["updated_at"] and new[apple]["matched"]
        assert new[apple]["sort_time"] == new[apple]["published"]
        tagged = {(m["entry_id"], m["tag"]) for m in run["after"]["matches"]}
        assert (new[apple]["id"], "腾讯") in tagged
        for m in run["after"]["matches"]:  # copied from the entry for indexed paging
            entry = next(r for r in new.values() if r["id"] == m["entry_id"])
            assert (m["sort_time"], m["first_seen"]) == (entry["sort_time"], entry["first_seen"])
        (src,) = run["after"]["sources"]
        assert src["entries"] == 4 and src["status"] == "ok" and src["failures"] == 0
        assert src["next_due"] - src["last_checked"] == timedelta(seconds=60)
        (bad,) = run["bad"]["sources"]
        assert bad["status"] == "error" and bad["failures"] == 1 and bad["entries"] == 4
        assert bad["last_ok"] == src["last_ok"] and bad["error"]
