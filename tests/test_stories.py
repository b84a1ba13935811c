"""One story, one card: copies of a story from several feeds are one story everywhere (items,
counts, the panel's new flags), on a SQLite file and on PostgreSQL; feeds served over real HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from reportwatch.config.settings import load_config
from reportwatch.poll.cycle import run_cycle
from reportwatch.store.core import open_store
from reportwatch.store.queries import count_new, matched_items, tag_counts
from tests.feedserver import FeedServer, rss
from tests.helpers import at_once, cli, json_lines, write_config

TAGS = {"腾讯": {"any": ["腾讯", "Tencent"]}, "电商": {"any": ["电商", "小店"]}}
WHEN = "Tue, 25 Nov 2025 10:00:00 +0800"


def story_item(guid: str, title: str, link: str, published: str = WHEN) -> dict[str, object]:
    return {"title": title, "link": link, "guid": guid, "description": "", "pubDate": published}


def poll(config: Path) -> None:
    done = cli("poll", "--once", config=config)
    assert done.returncode == 0, done.stderr


def items(config: Path, *extra: str) -> list[dict[str, object]]:
    done = cli("items", *extra, config=config)
    assert done.returncode == 0, done.stderr
    return json_lines(done.stdout)


def two_feeds(feed_server: FeedServer, tmp_path: Path, database_url: str,
              a: list[dict[str, object]], b: list[dict[str, object]]) -> Path:  # fmt: skip
    feed_server.set_feed("/a.xml", rss(a, title="A"))
    feed_server.set_feed("/b.xml", rss(b, title="B"))
    return write_config(
        tmp_path,
        [{"name": "虎嗅", "url": feed_server.url("/a.xml")},
         {"name": "虎嗅 RSSHub", "url": feed_server.url("/b.xml")}],  # fmt: skip
        tags=TAGS, database_url=database_url,
    )  # fmt: skip


def test_two_feeds_with_the_same_articles_give_one_row_per_story(
    feed_server: FeedServer, tmp_path: Path, database_url: str
) -> None:
    # The same three articles: one by the same link in another form (http, www., trailing
    # slash, tracking parameters, fragment), one by the same guid, one by the same title.
    a = [
        story_item(
            "h1", "腾讯发布第三季度财报，营收同比增长", "https://www.huxiu.com/article/1.html"
        ),
        story_item(
            "h2", "微信小店上线送礼物功能，电商再加码", "https://www.huxiu.com/article/2.html"
        ),
        story_item(
            "h3", "腾讯会议推出AI助手，面向企业用户收费", "https://www.huxiu.com/article/3.html"
        ),
    ]
    b = [
        story_item("rsshub-1", "腾讯发布第三季度财报，营收同比增长",
                   "http://huxiu.com/article/1.html/?utm_source=rsshub&utm_medium=feed#top"),
        story_item("h2", "微信小店上线“送礼物”功能", "https://rsshub.example/huxiu/2"),
        story_item("rsshub-3", "腾讯会议推出AI助手，面向企业用户收费",
                   "https://rsshub.example/huxiu/3"),
    ]  # fmt: skip
    config = two_feeds(feed_server, tmp_path, database_url, a, b)
    poll(config)
    stories = items(config)
    assert len(stories) == 3
    for story in stories:
        assert story["sources"] == ["虎嗅", "虎嗅 RSSHub"]  # first seen first
        assert story["source"] == "虎嗅" and story["title"] in [i["title"] for i in a]
    assert len({s["story"] for s in stories}) == 3
    copies = items(config, "--all-copies")
    assert len(copies) == 6
    assert {c["story"] for c in copies} == {s["story"] for s in stories}
    by_title = {s["title"]: s for s in stories}
    assert len(by_title["腾讯会议推出AI助手，面向企业用户收费"]["links"]) == 2
    # Counts are of stories.
    store = open_store(load_config(config).config.database_url)
    assert tag_counts(store) == {"腾讯": 2, "电商": 1}


def test_the_same_title_far_apart_is_two_stories(
    feed_server: FeedServer, tmp_path: Path, database_url: str
) -> None:
    weekly = "本周腾讯电商大事回顾汇总"
    a = [story_item("w1", weekly, "https://a.example/w1", "Mon, 03 Nov 2025 10:00:00 +0800")]
    b = [story_item("w2", weekly, "https://b.example/w2", "Mon, 10 Nov 2025 10:00:00 +0800")]
    config = two_feeds(feed_server, tmp_path, database_url, a, b)
    poll(config)
    assert len(items(config)) == 2


def test_another_outlets_headline_joins_and_lookalikes_stay_apart(
    feed_server: FeedServer, tmp_path: Path, database_url: str
) -> None:
    a = [
        story_item("a1", "腾讯第三季度营收1546亿元 同比增长10%", "https://a.example/1"),
        story_item("a2", "视频号小店推出送礼物功能", "https://a.example/2"),
    ]
    b = [
        story_item("b1", "腾讯Q3营收1546亿元，同比增长10%，净利润超预期", "https://b.example/1"),
        story_item("b2", "视频号小店推出先用后付功能", "https://b.example/2"),
        story_item("b3", "腾讯第二季度营收1492亿元 同比增长8%", "https://b.example/3"),
    ]
    config = two_feeds(feed_server, tmp_path, database_url, a, b)
    poll(config)
    stories = {s["title"]: s for s in items(config)}
    assert stories["腾讯第三季度营收1546亿元 同比增长10%"]["sources"] == ["虎嗅", "虎嗅 RSSHub"]
    assert stories["视频号小店推出送礼物功能"]["sources"] == ["虎嗅"]
    assert stories["视频号小店推出先用后付功能"]["sources"] == ["虎嗅 RSSHub"]
    assert stories["腾讯第二季度营收1492亿元 同比增长8%"]["sources"] == ["虎嗅 RSSHub"]
    assert len(stories) == 4


def test_a_late_copy_joins_its_story_and_is_not_new_again(
    feed_server: FeedServer, tmp_path: Path, database_url: str
) -> None:
    first = [story_item("x1", "腾讯宣布微信小店开放跨境电商", "https://a.example/x1")]
    config = two_feeds(feed_server, tmp_path, database_url, first, [])
    poll(config)
    loaded = load_config(config)
    store = open_store(loaded.config.database_url)
    [story] = matched_items(store)
    baseline = datetime.now(UTC)  # the analyst has seen the story
    late = [story_item("y1", "腾讯宣布微信小店开放跨境电商", "https://b.example/y1")]
    feed_server.set_feed("/b.xml", rss(late, title="B"))
    run_cycle(loaded, store, force=True)
    [again] = matched_items(store)
    assert again.story == story.story and again.sources == ["虎嗅", "虎嗅 RSSHub"]
    assert again.first_seen == story.first_seen < baseline
    assert count_new(store, baseline) == 0
    assert matched_items(store, since=baseline) == []


def test_two_pollers_at_once_make_one_story_per_article(
    feed_server: FeedServer, tmp_path: Path, database_url: str
) -> None:
    names = [f"feed{i}" for i in range(6)]
    articles = [
        ("腾讯发布第三季度财报，营收同比增长", "1"),
        ("微信小店上线送礼物功能，电商再加码", "2"),
        ("视频号电商推出商家成长计划", "3"),
    ]
    for n, name in enumerate(names):
        # Every feed carries every article, under its own guid and a link form of its own.
        feed = [story_item(f"{name}-{k}", title, f"https://www.news.example/{k}?utm_source={n}")
                for title, k in articles]  # fmt: skip
        feed_server.set_feed(f"/{name}.xml", rss(feed), delay=0.1)
    config = write_config(
        tmp_path, [{"name": n, "url": feed_server.url(f"/{n}.xml")} for n in names],
        tags=TAGS, database_url=database_url,
    )  # fmt: skip
    loaded = load_config(config)
    stores = [open_store(loaded.config.database_url) for _ in range(2)]
    at_once(*(lambda s=s: run_cycle(loaded, s, owner=f"poller-{id(s)}") for s in stores))
    stories = matched_items(stores[0], limit=None)
    assert len(stories) == len(articles)
    assert all(sorted(s.sources) == names for s in stories)


def test_an_older_store_is_clustered_at_the_next_cycle(
    feed_server: FeedServer, tmp_path: Path, database_url: str
) -> None:
    same = "腾讯发布第三季度财报，营收同比增长"
    config = two_feeds(
        feed_server, tmp_path, database_url,
        [story_item("o1", same, "https://a.example/o1")],
        [story_item("o2", same, "https://b.example/o2")],
    )  # fmt: skip
    poll(config)
    store = open_store(load_config(config).config.database_url)
    # As a store written before stories: no entry has its story yet, no keys are stored.
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE entries SET story_id = NULL")
        conn.exec_driver_sql("UPDATE matches SET story_id = entry_id")
        conn.exec_driver_sql("DELETE FROM story_keys")
    assert len(items(config)) == 2  # each copy is its own story until the backfill
    poll(config)
    [story] = items(config)
    assert story["sources"] == ["虎嗅", "虎嗅 RSSHub"]


def test_csv_lists_sources_and_links(
    feed_server: FeedServer, tmp_path: Path, database_url: str
) -> None:
    title = "腾讯宣布视频号小店升级为微信小店"
    config = two_feeds(
        feed_server, tmp_path, database_url,
        [story_item("c1", title, "https://a.example/c1")],
        [story_item("c2", title, "https://b.example/c2")],
    )  # fmt: skip
    poll(config)
    done = cli("items", "--format", "csv", config=config)
    assert done.returncode == 0, done.stderr
    header, row = done.stdout.splitlines()[:2]
    assert header.split(",")[-2:] == ["sources", "links"]
    assert "虎嗅 虎嗅 RSSHub" in row and "https://a.example/c1 https://b.example/c2" in row
    assert json.loads(json.dumps(row))  # plain text, one line


def test_alike_items_of_one_feed_stay_two_stories(
    feed_server: FeedServer, tmp_path: Path, database_url: str
) -> None:
    # A feed's follow-up reads like its first item; only another feed's copy is the same story.
    a = [
        story_item("s1", "腾讯第三季度营收1546亿元 同比增长10%", "https://a.example/s1"),
        story_item("s2", "腾讯Q3营收1546亿元，同比增长10%，净利润超预期", "https://a.example/s2"),
    ]
    config = two_feeds(feed_server, tmp_path, database_url, a, [])
    poll(config)
    assert len(items(config)) == 2


def test_pruning_an_entry_forgets_its_story_keys(
    feed_server: FeedServer, tmp_path: Path, database_url: str
) -> None:
    kept = story_item("k1", "腾讯宣布微信小店开放跨境电商", "https://a.example/k1")
    noise = story_item("n1", "苹果发布新款平板电脑与配件", "https://a.example/n1")
    config = two_feeds(feed_server, tmp_path, database_url, [kept, noise], [])
    poll(config)
    store = open_store(load_config(config).config.database_url)
    with store.engine.begin() as conn:
        before = conn.exec_driver_sql("SELECT count(*) FROM story_keys").scalar_one()
        conn.exec_driver_sql("UPDATE entries SET first_seen = '2000-01-01 00:00:00'")
    assert store.prune(datetime.now(UTC), 30) == 1  # the unmatched one
    with store.engine.connect() as conn:
        after = conn.exec_driver_sql("SELECT count(*) FROM story_keys").scalar_one()
    assert 0 < after < before  # the kept story's keys stay, so its copies still join it
    assert [s["title"] for s in items(config)] == ["腾讯宣布微信小店开放跨境电商"]


def test_the_explorer_lists_a_story_once_or_every_copy(
    feed_server: FeedServer, tmp_path: Path, database_url: str
) -> None:
    from reportwatch.store.explore import Filters, count, rows

    title = "腾讯宣布视频号小店升级为微信小店"
    config = two_feeds(
        feed_server, tmp_path, database_url,
        [story_item("e1", title, "https://a.example/e1")],
        [story_item("e2", title, "https://b.example/e2")],
    )  # fmt: skip
    poll(config)
    store = open_store(load_config(config).config.database_url)
    assert count(store, Filters()) == 1
    [row] = rows(store, Filters())
    assert row["copies"] == 2 and len(row["also"]) == 1
    assert {row["source"], *row["also"]} == {"虎嗅", "虎嗅 RSSHub"}
    every = rows(store, Filters(copies=True))
    assert count(store, Filters(copies=True)) == 2 and len(every) == 2
    assert len({r["story"] for r in every}) == 1
    # Filtered to the feed that carried the later copy, the story is still found (once).
    assert count(store, Filters(sources=("虎嗅 RSSHub",))) == 1
