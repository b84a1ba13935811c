"""Size limits on everything stored from a feed (issue 15, item 5): a hostile feed served over
real HTTP and polled by `reportwatch poll --once`, then parse_entries on its own."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from sqlalchemy import select

from reportwatch.config.settings import load_config
from reportwatch.feeds import parse as parse_mod
from reportwatch.feeds.parse import (
    ENTRIES_MAX,
    KEY_MAX_BYTES,
    LINK_MAX,
    LIST_ITEM_MAX,
    LIST_MAX,
    SUMMARY_MAX,
    TEXT_INPUT_MAX,
    TITLE_MAX,
    parse_entries,
)
from reportwatch.store.core import open_store
from reportwatch.store.schema import entries
from reportwatch.store.schema import sources as source_table
from reportwatch.urls import normalise_link
from tests.feedserver import FeedServer, rss
from tests.helpers import cli, write_config

START = datetime(2025, 11, 1, tzinfo=UTC)
LONG_LINK = "https://news.example/" + random.Random(3).randbytes(5000).hex()


def test_limit_values() -> None:
    assert (TITLE_MAX, LINK_MAX, LIST_MAX, LIST_ITEM_MAX) == (500, 2048, 20, 200)
    assert (SUMMARY_MAX, ENTRIES_MAX) == (1000, 500)


# ------------------------------------------------------------------ end to end


def hostile_feed() -> bytes:
    """2,000 entries an hour apart; the newest one has a 300,000-character title, a
    10,000-character link and 1,000 categories; the feed's own title is 100,000 characters."""
    items: list[dict[str, object]] = [
        {
            "title": f"条目 {n}",
            "link": f"https://news.example/{n}",
            "guid": f"g{n}",
            "pubDate": START + timedelta(hours=n),
        }
        for n in range(2000)
    ]
    newest = items[-1]
    newest["title"] = "腾讯" + "长" * 300_000
    newest["link"] = "https://news.example/" + "a" * 10_000
    newest["categories"] = [f"分类{n}" for n in range(1000)]
    # The next one has no guid: its key comes from its 10,000-character link, too long for
    # PostgreSQL's unique index, so it is hashed.
    items[-2].update(guid=None, link=LONG_LINK)
    random.Random(15).shuffle(items)  # the newest are found by date, not by place
    return rss(items, title="源" * 100_000)


def test_hostile_feed_over_http_is_stored_within_the_limits(
    feed_server: FeedServer, tmp_path: Path, database_url: str
) -> None:
    body = hostile_feed()
    assert len(body) < 10 * 1024 * 1024  # under the fetch cap: the parser must do the cutting
    feed_server.set_feed("/big.xml", body)
    config = write_config(
        tmp_path, [{"name": "big", "url": feed_server.url("/big.xml")}], database_url=database_url
    )
    result = cli("poll", "--once", config=config)
    assert result.returncode == 0, result.stderr
    store = open_store(load_config(config).config.database_url)
    with store.engine.connect() as conn:
        feed_title = conn.execute(select(source_table.c.feed_title)).scalar_one()
        rows = conn.execute(select(entries)).mappings().all()
    assert len(feed_title) <= TITLE_MAX and feed_title.endswith("…")
    assert len(rows) == ENTRIES_MAX  # of 2,000
    kept = {r["key"] for r in rows}
    hashed = "sha1:" + hashlib.sha1(normalise_link(LONG_LINK).encode()).hexdigest()
    newest = {f"g{n}" for n in range(2000 - ENTRIES_MAX, 2000)} - {"g1998"} | {hashed}
    assert kept == newest  # the newest 500
    assert all(len(k) <= KEY_MAX_BYTES for k in kept)
    (big,) = [r for r in rows if r["key"] == "g1999"]  # the key is the original guid
    assert len(big["title"]) <= TITLE_MAX and big["title"].endswith("…")
    assert big["title"].startswith("腾讯长长")
    assert big["link"] is None  # 10,000 characters: dropped, not cut
    categories = big["categories"].split("\n")
    assert len(categories) <= LIST_MAX and categories[0] == "分类0"
    assert max(len(r["title"]) + len(r["summary"]) for r in rows) <= TITLE_MAX + SUMMARY_MAX
    items = cli("items", "--format", "json", config=config)  # 腾讯 matched in the cut title
    assert items.returncode == 0, items.stderr
    assert "g1999" in items.stdout and len(items.stdout) < 10_000


# ------------------------------------------------------------------ parse_entries


def _rss_item(
    guid: str | None = None,
    title: str = "t",
    link: str | None = None,
    description: str = "",
    date: datetime | None = None,
    categories: list[str] | None = None,
) -> str:
    parts = [f"<title>{escape(title)}</title>", f"<description>{escape(description)}</description>"]
    if guid is not None:
        parts.append(f'<guid isPermaLink="false">{escape(guid)}</guid>')
    if link is not None:
        parts.append(f"<link>{escape(link)}</link>")
    if date is not None:
        parts.append(f"<pubDate>{date.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>")
    parts.extend(f"<category>{escape(c)}</category>" for c in categories or [])
    return "<item>" + "".join(parts) + "</item>"


def _feed(*items: str, title: str = "T") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title>{''.join(items)}</channel></rss>"
    ).encode()


def test_title_is_cut_with_an_ellipsis() -> None:
    result = parse_entries(_feed(_rss_item("a", "标题" * 150_000), title="F" * 5000))
    (entry,) = result.entries
    assert len(entry.title) == TITLE_MAX and entry.title.endswith("…")
    assert entry.title.startswith("标题标题")
    assert len(result.title) == TITLE_MAX and result.title.endswith("…")
    exact = parse_entries(_feed(_rss_item("a", "x" * TITLE_MAX))).entries[0]
    assert exact.title == "x" * TITLE_MAX  # at the limit: whole, no ellipsis


def test_a_title_of_markup_is_stripped_only_as_far_as_needed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 4.4 M characters of title markup took 55 s in parse_entries, 33 s with this cut (the rest
    # is feedparser's sanitiser); 330,000 are enough to show that only TEXT_INPUT_MAX are read.
    title = "<b>腾讯</b> " * 30_000
    seen: list[int] = []
    original = parse_mod.plain_text

    def recording(text: str) -> str:
        seen.append(len(text))
        return original(text)

    monkeypatch.setattr(parse_mod, "plain_text", recording)
    entry = parse_entries(_feed(_rss_item("a", title))).entries[0]
    assert len(entry.title) <= TITLE_MAX and entry.title.startswith("腾讯 腾讯")
    assert seen and max(seen) <= TEXT_INPUT_MAX


def test_key_comes_from_the_uncut_title_when_there_is_no_guid_or_link() -> None:
    title = "无链接的长标题" * 50_000
    entry = parse_entries(_feed(_rss_item(title=title, description="摘要"))).entries[0]
    assert len(entry.title) <= TITLE_MAX
    assert entry.key == "sha1:" + hashlib.sha1(f"{title}\n摘要".encode()).hexdigest()
    # Two titles that differ only after the cut stay two entries.
    other = title[:-1] + "!"
    both = parse_entries(_feed(_rss_item(title=title), _rss_item(title=other))).entries
    assert len(both) == 2 and both[0].title == both[1].title


def test_a_long_link_is_dropped_not_cut_and_the_key_stays() -> None:
    at_limit = "https://news.example/" + "a" * (LINK_MAX - 21)
    over = at_limit + "b"
    assert len(at_limit) == LINK_MAX
    kept, dropped, guided = parse_entries(
        _feed(_rss_item(link=at_limit), _rss_item(link=over), _rss_item("g1", link=over * 5))
    ).entries
    assert kept.link == at_limit and kept.key == normalise_link(at_limit)
    assert dropped.link is None and dropped.key == normalise_link(over)  # from the original link
    assert guided.link is None and guided.key == "g1"


def test_a_key_longer_than_the_index_takes_is_hashed() -> None:
    link = "https://news.example/" + "长" * 1000  # 1,021 characters, 3 kB of UTF-8
    guid = "guid-" + "x" * 5000
    by_link, by_guid = parse_entries(_feed(_rss_item(link=link), _rss_item(guid))).entries
    for entry, original in ((by_link, normalise_link(link)), (by_guid, guid)):
        assert len(original.encode()) > KEY_MAX_BYTES
        assert entry.key == "sha1:" + hashlib.sha1(original.encode()).hexdigest()
    assert by_link.link == link  # 1,021 characters: the link itself is kept


def test_categories_and_authors_are_capped() -> None:
    many = [f"c{n}" for n in range(1000)]
    long = ["长" * 300, "长" * 300 + "x", "short"]  # equal once cut: kept once
    (entry, other) = parse_entries(
        _feed(_rss_item("a", categories=["c0", "c0", *many]), _rss_item("b", categories=long))
    ).entries
    assert entry.categories == [f"c{n}" for n in range(LIST_MAX)]
    assert other.categories == ["长" * (LIST_ITEM_MAX - 1) + "…", "short"]
    names = [*(f"作者{n}" for n in range(100))]
    (entry,) = parse_entries(_atom_authors(names)).entries
    assert entry.authors == [f"作者{n}" for n in range(LIST_MAX)]
    (entry,) = parse_entries(_atom_authors(["x" * 1000])).entries
    assert entry.authors == ["x" * (LIST_ITEM_MAX - 1) + "…"]


def _atom_authors(names: list[str]) -> bytes:
    authors = "".join(f"<author><name>{escape(name)}</name></author>" for name in names)
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>T</title><id>urn:t</id><updated>2025-01-01T00:00:00Z</updated>"
        f"<entry><id>urn:e</id><title>t</title>{authors}</entry></feed>"
    ).encode()


def test_summary_is_cut() -> None:
    entry = parse_entries(_feed(_rss_item("a", description="<p>段落</p>" * 10_000))).entries[0]
    assert len(entry.summary) <= SUMMARY_MAX and entry.summary.endswith("段落…")


def test_newest_entries_are_kept_by_date_in_document_order() -> None:
    dates = [START + timedelta(minutes=n) for n in range(2000)]
    random.Random(5).shuffle(dates)
    result = parse_entries(_feed(*(_rss_item(f"g{i}", date=d) for i, d in enumerate(dates))))
    assert len(result.entries) == ENTRIES_MAX
    newest = sorted(dates)[-ENTRIES_MAX:]
    assert {e.published for e in result.entries} == set(newest)
    positions = [int(e.key[1:]) for e in result.entries]
    assert positions == sorted(positions)  # still in the feed's order


def test_undated_entries_are_kept_in_document_order_after_dated_ones() -> None:
    undated = [_rss_item(f"u{n}") for n in range(ENTRIES_MAX + 100)]
    dated = [_rss_item(f"d{n}", date=START + timedelta(days=n)) for n in range(10)]
    result = parse_entries(_feed(*undated[:50], *dated, *undated[50:]))
    keys = [e.key for e in result.entries]
    assert len(keys) == ENTRIES_MAX
    assert {f"d{n}" for n in range(10)} <= set(keys)
    assert [k for k in keys if k.startswith("u")] == [f"u{n}" for n in range(ENTRIES_MAX - 10)]


def test_at_most_entries_max_unchanged_below_it() -> None:
    items = [_rss_item(f"g{n}") for n in range(ENTRIES_MAX)]
    assert [e.key for e in parse_entries(_feed(*items)).entries] == [
        f"g{n}" for n in range(ENTRIES_MAX)
    ]
