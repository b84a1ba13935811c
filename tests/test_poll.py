"""A poll cycle end to end: local HTTP server → fetch → parse → match → store → CLI, each on a
SQLite file and on a PostgreSQL database."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from reportwatch.config.settings import load_config
from reportwatch.poll.cycle import build_matcher, run_cycle
from reportwatch.store.core import open_store
from reportwatch.store.queries import matched_items, source_health
from reportwatch.store.schema import entries
from tests.feedserver import FeedServer, rss
from tests.helpers import APPLE, TENCENT, at_once, cli, json_lines, write_config


def distinct_words(n: int) -> str:
    """Eight CJK characters that no other n shares in order: headlines of different stories."""
    return "".join(chr(0x4E00 + (n * 7919 + k * 104729) % 20000) for k in range(8))


def sources_by_name(config: Path) -> dict[str, dict[str, object]]:
    result = cli("sources", "--format", "json", config=config)
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json_lines(result.stdout)}


def test_second_poll_sends_if_none_match_and_gets_304(
    feed_server: FeedServer, tmp_path: Path, database_url: str
):
    feed_server.set_feed("/feed.xml", rss([TENCENT]))
    config = write_config(
        tmp_path, [{"name": "news", "url": feed_server.url("/feed.xml")}], database_url=database_url
    )
    assert cli("poll", "--once", config=config).returncode == 0
    assert sources_by_name(config)["news"]["status"] == "ok"
    second = cli("poll", "--once", config=config)
    assert second.returncode == 0, second.stderr
    seen = feed_server.requests("/feed.xml")
    assert "if-none-match" not in seen[0] and seen[1]["if-none-match"]
    assert seen[1]["user-agent"].startswith("reportwatch/")
    row = sources_by_name(config)["news"]
    assert row["status"] == "not_modified" and row["entries"] == 1
    assert row["last_ok"] and row["last_checked"]


def test_broken_source_is_error_while_others_are_ok(
    feed_server: FeedServer, tmp_path: Path, database_url: str
):
    feed_server.set_feed("/good.xml", rss([TENCENT]))
    feed_server.set_response("/broken.xml", 500, b"oops")
    config = write_config(
        tmp_path,
        [
            {"name": "good", "url": feed_server.url("/good.xml")},
            {"name": "broken", "url": feed_server.url("/broken.xml")},
            {"name": "refused", "url": "http://127.0.0.1:9/feed.xml"},
        ],
        database_url=database_url,
    )
    result = cli("poll", "--once", config=config)
    assert result.returncode == 0, result.stderr
    rows = sources_by_name(config)
    assert rows["good"]["status"] == "ok" and rows["good"]["error"] is None
    assert rows["broken"]["status"] == "error" and "500" in rows["broken"]["error"]
    assert rows["refused"]["status"] == "error" and rows["refused"]["error"]
    for row in rows.values():
        for key in ("name", "url", "status", "last_checked", "last_ok", "error", "entries"):
            assert key in row


def test_new_matching_entry_appears_in_items_once(
    feed_server: FeedServer, tmp_path: Path, database_url: str
):
    feed_server.set_feed("/feed.xml", rss([APPLE]))
    config = write_config(
        tmp_path, [{"name": "news", "url": feed_server.url("/feed.xml")}], database_url=database_url
    )
    cli("poll", "--once", config=config)
    assert json_lines(cli("items", config=config).stdout) == []
    feed_server.set_feed("/feed.xml", rss([TENCENT, APPLE]))
    cli("poll", "--once", config=config)
    cli("poll", "--once", config=config)
    items = json_lines(cli("items", config=config).stdout)
    assert [i["title"] for i in items] == ["腾讯发布财报"]
    item = items[0]
    assert item["source"] == "news" and item["link"] == "https://news.example/a1"
    assert "腾讯" in item["tags"] and item["key"] and item["first_seen"]
    assert item["published"].startswith("2025-11-25T02:00:00")
    assert json_lines(cli("items", "--tag", "视频号电商", config=config).stdout) == []
    csv_out = cli("items", "--format", "csv", config=config).stdout
    assert csv_out.splitlines()[0].startswith("source,key,title,link")
    assert "腾讯发布财报" in csv_out
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert json_lines(cli("items", "--since", future, config=config).stdout) == []


def test_updated_entry_keeps_first_seen_and_utm_links_do_not_duplicate(
    feed_server: FeedServer, tmp_path: Path, database_url: str
):
    no_guid = {k: v for k, v in TENCENT.items() if k != "guid"}
    feed_server.set_feed("/feed.xml", rss([no_guid]))
    config = write_config(
        tmp_path, [{"name": "news", "url": feed_server.url("/feed.xml")}], database_url=database_url
    )
    loaded = load_config(config)
    store = open_store(loaded.config.database_url)
    run_cycle(loaded, store, force=True)
    (before,) = matched_items(store)
    moved = dict(
        no_guid, title="腾讯发布财报(更新)", link="http://news.example/a1?utm_source=rss#top"
    )
    feed_server.set_feed("/feed.xml", rss([moved]))
    report = run_cycle(loaded, store, force=True)
    assert report.new_entries == 0
    (after,) = matched_items(store)
    assert after.title == "腾讯发布财报(更新)" and after.first_seen == before.first_seen
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(entries)).scalar_one() == 1


def test_gbk_feed_and_feed_without_dates(
    feed_server: FeedServer, tmp_path: Path, database_url: str
):
    body = rss(
        [
            {
                "title": "騰訊与视频号小店",
                "link": "https://news.example/g",
                "guid": "g",
                "description": "镕堃",
            }
        ]
    ).replace(b"utf-8", b"gb2312")
    feed_server.set_feed(
        "/gbk.xml",
        body.decode("utf-8").encode("gb18030"),
        content_type="application/rss+xml; charset=gbk",
    )
    config = write_config(
        tmp_path, [{"name": "gbk", "url": feed_server.url("/gbk.xml")}], database_url=database_url
    )
    assert cli("poll", "--once", config=config).returncode == 0
    (item,) = json_lines(cli("items", config=config).stdout)
    assert item["title"] == "騰訊与视频号小店"
    assert item["published"] is None and item["first_seen"]
    assert set(item["tags"]) >= {"视频号电商"}


def test_429_retry_after_postpones_the_source(
    feed_server: FeedServer, tmp_path: Path, database_url: str
):
    feed_server.set_response("/busy.xml", 429, headers={"Retry-After": "600"})
    config = write_config(
        tmp_path, [{"name": "busy", "url": feed_server.url("/busy.xml")}], database_url=database_url
    )
    loaded = load_config(config)
    store = open_store(loaded.config.database_url)
    run_cycle(loaded, store, force=True)
    (health,) = source_health(store)
    assert health.status == "error" and health.failures == 1
    assert health.next_due - health.last_checked >= timedelta(seconds=599)
    run_cycle(loaded, store)  # not due yet: the source is left alone
    assert len(feed_server.requests("/busy.xml")) == 1


def test_two_pollers_at_once_never_fetch_a_source_twice(
    feed_server: FeedServer, tmp_path: Path, database_url: str
):
    names = [f"feed{i}" for i in range(12)]
    for n, name in enumerate(names):  # twelve different stories, one a feed
        title = f"{distinct_words(n)}财报"
        item = dict(TENCENT, guid=f"{name}-1", link=f"https://news.example/{name}", title=title)
        feed_server.set_feed(f"/{name}.xml", rss([item]), delay=0.2)
    config = write_config(
        tmp_path,
        [{"name": n, "url": feed_server.url(f"/{n}.xml")} for n in names],
        database_url=database_url,
    )
    loaded = load_config(config)
    stores = [open_store(loaded.config.database_url) for _ in range(2)]
    # Both add the new sources and rules at once, then race for the leases.
    reports = at_once(*(lambda s=s: run_cycle(loaded, s, owner=f"poller-{id(s)}") for s in stores))
    assert sum(len(r.outcomes) for r in reports) == len(names)
    for name in names:
        assert len(feed_server.requests(f"/{name}.xml")) == 1
    assert len(matched_items(stores[0], limit=None)) == len(names)


def test_items_and_sources_fail_clearly_on_a_bad_config(tmp_path: Path):
    config = tmp_path / "sources.yaml"
    config.write_text("poll_interval: 1\n", encoding="utf-8")
    for command in (("poll", "--once"), ("items",), ("sources",)):
        result = cli(*command, config=config)
        assert result.returncode == 2
        assert "poll_interval" in result.stderr and "Traceback" not in result.stderr


def test_unusable_database_is_a_clear_cli_error(tmp_path: Path):
    config = write_config(tmp_path, [], database_url="sqlite:///missing-folder/x.db")
    result = cli("poll", "--once", config=config)
    assert result.returncode == 3
    assert "database folder does not exist" in result.stderr and "Traceback" not in result.stderr


def test_retention_prunes_old_unmatched_entries_and_keeps_matched(
    feed_server: FeedServer, tmp_path: Path, database_url: str
):
    feed_server.set_feed("/feed.xml", rss([TENCENT, APPLE]))
    config = write_config(
        tmp_path,
        [{"name": "news", "url": feed_server.url("/feed.xml")}],
        retention_days=30,
        database_url=database_url,
    )
    loaded = load_config(config)
    store = open_store(loaded.config.database_url)
    run_cycle(loaded, store, force=True)
    old = datetime.now(UTC) - timedelta(days=40)
    with store.engine.begin() as conn:
        conn.execute(entries.update().values(first_seen=old))
    assert store.prune(datetime.now(UTC), 30) == 1  # the unmatched APPLE item
    with store.engine.connect() as conn:
        titles = [r.title for r in conn.execute(select(entries.c.title))]
    assert titles == ["腾讯发布财报"]
    (health,) = source_health(store)
    assert health.entries == 1


def test_unchanged_rules_keep_their_compiled_matcher(tmp_path: Path) -> None:
    """Each --watch or embedded cycle asks for a matcher: same rules, same (warm) matcher;
    a changed rule gives a new one, and its tags apply."""
    config = write_config(tmp_path, [], tags={"腾讯": {"any": ["Tencent"]}})
    first = build_matcher(load_config(config))
    assert [m.tag for m in first.match("Tencent earnings")] == ["腾讯"]
    assert build_matcher(load_config(config)) is first
    config = write_config(tmp_path, [], tags={"腾讯": {"any": ["Tencent", "WeChat"]}})
    second = build_matcher(load_config(config))
    assert second is not first
    assert [m.tag for m in second.match("WeChat Pay")] == ["腾讯"]


def test_a_long_host_name_still_takes_leases(
    feed_server: FeedServer, tmp_path: Path, database_url: str, monkeypatch
) -> None:
    """The lease owner names the host; a 100-character host name must not stop polling
    (PostgreSQL enforces the column's 64 characters), nor hide a dead poller of this host."""
    import socket
    import subprocess
    import sys

    from reportwatch.poll.owner import owner_is_dead, poller_id

    monkeypatch.setattr(socket, "gethostname", lambda: "analyst-workstation-" + "x" * 80)
    feed_server.set_feed("/feed.xml", rss([TENCENT]))
    config = write_config(
        tmp_path, [{"name": "news", "url": feed_server.url("/feed.xml")}], database_url=database_url
    )
    loaded = load_config(config)
    report = run_cycle(loaded, open_store(loaded.config.database_url), owner=poller_id())
    assert report.errors == 0 and report.new_entries == 1
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    assert owner_is_dead(poller_id().replace(f":{os.getpid()}:", f":{gone}:"))


def test_two_pollers_re_match_a_changed_rule_at_once(
    feed_server: FeedServer, tmp_path: Path, database_url: str
) -> None:
    """After a rule change, every poller that starts re-matches the stored entries: doing it
    at the same moment must neither fail nor leave a match twice."""
    items = [dict(TENCENT, guid=f"t{i}", link=f"https://news.example/t{i}",
                  title=f"{distinct_words(i)}财报") for i in range(400)]  # fmt: skip
    feed_server.set_feed("/feed.xml", rss(items))
    listed = [{"name": "news", "url": feed_server.url("/feed.xml")}]
    config = write_config(tmp_path, listed, tags={"腾讯": {"any": ["Tencent"]}},
                          database_url=database_url)  # fmt: skip
    loaded = load_config(config)
    run_cycle(loaded, open_store(loaded.config.database_url), force=True)
    changed = write_config(tmp_path, listed, tags={"腾讯": {"any": ["Tencent"]}, "财报": {}},
                           database_url=database_url)  # fmt: skip
    matcher = build_matcher(load_config(changed))
    stores = [open_store(loaded.config.database_url) for _ in range(2)]
    at_once(*(lambda s=s: s.rematch_if_changed(matcher, batch=50) for s in stores))
    tagged = matched_items(stores[0], limit=None)
    assert len(tagged) == 400 and all(sorted(i.tags) == ["腾讯", "财报"] for i in tagged)
