"""Tag rules end to end: a local feed, real poll cycles, `items` and `explain` from the CLI."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.feedserver import FeedServer, rss
from tests.helpers import cli, item, json_lines, write_config

RULES = {
    "腾讯": {"any": ["tencent"]},
    "视频号电商": {"any": ["视频号"], "all": ["带货"]},
    "超级应用": {"any": ["super app"], "none": ["广告"]},
}


def tags_by_title(config: Path) -> dict[str, set[str]]:
    result = cli("items", config=config)
    assert result.returncode == 0, result.stderr
    return {row["title"]: set(row["tags"]) for row in json_lines(result.stdout)}


def test_rules_against_a_local_feed(feed_server: FeedServer, tmp_path: Path) -> None:
    categorised = item("c", "本周科技回顾")
    categorised["categories"] = ["Tencent"]
    feed = [
        item("u", "TENCENT reports results"),
        item("w", "ＴＥＮＣＥＮＴ 发布财报"),
        categorised,
        item("m", "一周要闻", "<p>据 <b>Tencent</b> 消息</p>"),
        item("n", "一周要闻二", "&#33150;&#35759; 表示 &#116;encent 将扩张"),
        item("all", "视频号带货新规", "商家关注"),
        item("half", "视频号上线新滤镜"),
        item("none", "super app 广告投放"),
        item("ok", "微信成为 super app"),
        item("said", "He said nothing about Tencentric"),
    ]
    feed_server.set_feed("/feed.xml", rss(feed))
    config = write_config(tmp_path, [{"name": "本地", "url": feed_server.url("/feed.xml")}], RULES)
    assert cli("poll", "--once", config=config).returncode == 0
    found = tags_by_title(config)
    assert found["TENCENT reports results"] == {"腾讯"}
    assert found["ＴＥＮＣＥＮＴ 发布财报"] == {"腾讯"}
    assert found["本周科技回顾"] == {"腾讯"}  # keyword in a category
    assert found["一周要闻"] == {"腾讯"}  # keyword inside markup in a summary
    assert found["一周要闻二"] == {"腾讯"}  # numeric character references
    assert found["视频号带货新规"] == {"视频号电商"}  # any: and every all: keyword present
    assert "视频号上线新滤镜" not in found  # all: one keyword missing
    assert "super app 广告投放" not in found  # none: vetoes
    assert found["微信成为 super app"] == {"超级应用"}
    assert "He said nothing about Tencentric" not in found


def test_a_rule_added_later_applies_to_stored_entries(
    feed_server: FeedServer, tmp_path: Path, database_url: str
):
    """Re-matching stored entries (store.rematch_if_changed), on SQLite and on PostgreSQL."""
    feed_server.set_feed("/feed.xml", rss([item("d", "微信成立新事业群")]))
    listed = [{"name": "本地", "url": feed_server.url("/feed.xml")}]
    config = write_config(tmp_path, listed, {}, database_url=database_url)
    cli("poll", "--once", config=config)
    assert cli("items", config=config).stdout == ""  # no tag of the reports matches it
    data = yaml.safe_load(config.read_text("utf-8"))
    data["tags"] = {"组织调整": {"any": ["事业群"]}}
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert cli("poll", "--once", config=config).returncode == 0
    (row,) = json_lines(cli("items", "--tag", "组织调整", config=config).stdout)
    assert row["title"] == "微信成立新事业群"
    assert feed_server.requests("/feed.xml")[-1].get("if-none-match")  # the feed did not change
    data["tags"] = {"组织调整": {"any": ["并购"]}}  # a narrowed rule un-matches them again
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert cli("poll", "--once", config=config).returncode == 0
    assert cli("items", config=config).stdout == ""


def test_explain_says_which_tags_and_why(tmp_path: Path) -> None:
    config = write_config(tmp_path, [], RULES)
    result = cli("explain", "ＴＥＮＣＥＮＴ 视频号带货", config=config)
    assert result.returncode == 0, result.stderr
    assert "腾讯" in result.stdout and "'tencent' in title" in result.stdout
    assert "视频号电商" in result.stdout and "'带货' in title" in result.stdout
    nothing = cli("explain", "苹果发布新手机", config=config)
    assert "no tag matches" in nothing.stdout
