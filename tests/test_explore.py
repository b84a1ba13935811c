"""Explorer queries: FTS5 trigram search for Chinese, LIKE fallbacks, filters, paging, export.

The store-backed tests run twice: on a SQLite file (FTS5) and on PostgreSQL (LIKE)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, insert, update

from reportwatch.store import explore
from reportwatch.store.core import open_store
from reportwatch.store.explore import Filters
from reportwatch.store.schema import MIGRATIONS, entries, meta, sources
from reportwatch.ui import explore as explore_view
from tests.analysis_data import fill
from tests.feedserver import FeedServer

TZ = "Asia/Shanghai"


@pytest.fixture
def store(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
):
    return fill(feed_server, tmp_path, monkeypatch, database_url=database_url)[1]


def titles(store, f: Filters, sort: str = "newest") -> list[str]:
    return [r["title"] for r in explore.rows(store, f, sort)]


def test_search_finds_chinese_substrings(store) -> None:
    with store.engine.connect() as conn:  # FTS5 on SQLite; PostgreSQL searches with LIKE
        assert explore.has_fts(conn) is (store.engine.dialect.name == "sqlite")
    assert titles(store, Filters(text="视频号", matched_only=False)) == [
        "微信视频号小店推出新规",
        '=HYPERLINK("http://evil.example")视频号带货',
    ]
    assert titles(store, Filters(text="第三季度")) == ["腾讯发布财报"]  # in the summary
    assert titles(store, Filters(text="tencent")) == ["腾讯发布财报"]  # case-insensitive


def test_short_queries_use_like(store) -> None:
    # Trigrams cannot look up one or two characters; LIKE must still find them.
    assert titles(store, Filters(text="腾讯")) == ["腾讯发布财报"]
    assert titles(store, Filters(text="苹", matched_only=False)) == ["苹果发布新手机"]
    assert titles(store, Filters(text="苹")) == []  # unmatched entries hidden by default
    assert titles(store, Filters(text="TE")) == ["腾讯发布财报"]  # "Tencent", any case


def test_several_terms_must_all_occur(store) -> None:
    assert titles(store, Filters(text="视频号 新规")) == ["微信视频号小店推出新规"]
    assert titles(store, Filters(text="视频号 苹果", matched_only=False)) == []


def test_query_syntax_is_searched_literally(store) -> None:
    for text in ('"', "视频号 OR 苹果", "NEAR(a b)", "*", "%", "_", "a\\b", "title:腾讯"):
        explore.count(store, Filters(text=text, matched_only=False))  # no SQL/FTS error
    assert explore.count(store, Filters(text="%", matched_only=False)) == 0
    # NUL: no stored text holds one, PostgreSQL cannot, FTS5 takes it for the end of the query.
    for f in (
        Filters(text="视频号\x00"),
        Filters(tags=("腾讯\x00",)),
        Filters(sources=("本地源\x00",)),
    ):
        assert explore.count(store, f) == 0 and explore.rows(store, f) == []


def test_like_fallback_without_fts(store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(explore, "has_fts", lambda conn: False)  # PostgreSQL or no FTS5
    assert titles(store, Filters(text="视频号小店")) == ["微信视频号小店推出新规"]


def test_index_follows_updates_and_deletes(store) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            update(entries).where(entries.c.title == "腾讯发布财报").values(title="腾讯改名了")
        )
    assert titles(store, Filters(text="发布财报")) == []
    assert titles(store, Filters(text="腾讯改名了")) == ["腾讯改名了"]
    with store.engine.begin() as conn:
        conn.execute(delete(entries).where(entries.c.title == "腾讯改名了"))
    assert titles(store, Filters(text="腾讯改名了")) == []


def test_migration_backfills_existing_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    now = datetime.now(UTC)
    with engine.begin() as conn:  # a v1 database with rows written before search existed
        MIGRATIONS[0](conn)
        conn.execute(insert(meta).values(key="schema_version", value="1"))
        conn.execute(insert(sources).values(id=1, name="旧源", url="http://x", enabled=True))
        conn.execute(
            insert(entries).values(
                source_id=1,
                key="k",
                title="老条目说视频号",
                summary="",
                first_seen=now,
                updated_at=now,
                sort_time=now,
                matched=False,
            )  # fmt: skip
        )
    engine.dispose()
    store = open_store(url)
    assert store.get_meta("schema_version") == str(len(MIGRATIONS))
    assert titles(store, Filters(text="视频号", matched_only=False)) == ["老条目说视频号"]


def test_filters_tags_sources_dates_and_new(store) -> None:
    assert titles(store, Filters(tags=("腾讯",))) == ["腾讯发布财报"]
    assert len(titles(store, Filters(tags=("视频号电商", "腾讯")))) == 3
    assert len(titles(store, Filters(sources=("本地源",), matched_only=False))) == 4
    assert titles(store, Filters(sources=("坏源",), matched_only=False)) == []
    assert len(titles(store, Filters())) == 3  # matched only by default
    now = datetime.now(UTC)
    assert len(titles(store, Filters(start=now - timedelta(hours=6)))) == 2
    assert len(titles(store, Filters(end=now - timedelta(hours=6)))) == 1
    assert titles(store, Filters(new_since=now)) == []
    assert len(titles(store, Filters(new_since=now - timedelta(hours=1)))) == 3


def test_day_bounds_are_local_days() -> None:
    start, end = explore.day_bounds(date(2025, 11, 25), date(2025, 11, 25), TZ)
    assert start == datetime(2025, 11, 24, 16, tzinfo=UTC)
    assert end == datetime(2025, 11, 25, 16, tzinfo=UTC)
    assert explore.parse_day("2025-13-01") is None and explore.parse_day(None) is None


def test_sorting_and_paging(store) -> None:
    f = Filters(matched_only=False)
    newest = titles(store, f)
    assert titles(store, f, "oldest") == newest[::-1]
    assert titles(store, f, "nonsense") == newest
    page = explore_view.page(store, f, None, TZ, "newest", number=2, size=3)
    assert page.total == 4 and page.extra == {"pages": 2, "number": 2}
    assert page.frame["title"].tolist() == newest[3:]
    assert explore_view.page(store, f, None, TZ, "newest", number=99, size=3).extra["number"] == 2


def test_frame_shows_only_safe_links_and_flags_new() -> None:
    now = datetime.now(UTC)
    row = {"title": "x", "source": "s", "tags": ["t"], "published": None, "first_seen": now,
           "matched": True, "summary": ""}  # fmt: skip
    found = [dict(row, link="javascript:alert(1)"), dict(row, link="https://ok.example/1")]
    df = explore_view.frame(found, now - timedelta(minutes=1), TZ)
    assert df["link"].isna().tolist() == [True, False]
    assert df["link"][1] == "https://ok.example/1"
    assert df["new"].tolist() == [True, True]
    assert str(df["first_seen"].dt.tz) == TZ
    assert explore_view.frame([], None, TZ).columns.tolist() == explore_view.COLUMNS


def test_csv_export_has_bom_and_chinese_and_defuses_formulas(store) -> None:
    df = explore_view.export_frame(store, Filters(), None, TZ, "newest")
    data = explore_view.to_csv_bytes(df)
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert "微信视频号小店推出新规" in text and "视频号电商" in text
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == 3
    assert all(not r["title"].startswith("=") for r in table)
    assert any(r["title"].startswith("'=HYPERLINK") for r in table)


def test_json_export(store) -> None:
    df = explore_view.export_frame(store, Filters(tags=("腾讯",)), None, TZ, "newest")
    records = json.loads(explore_view.to_json_bytes(df).decode("utf-8"))
    assert records[0]["title"] == "腾讯发布财报" and records[0]["tags"] == ["腾讯"]
    assert records[0]["published"].endswith("+08:00")
    assert "腾讯发布财报".encode() in explore_view.to_json_bytes(df)  # not \u-escaped


def test_export_is_capped(store) -> None:
    df = explore_view.export_frame(store, Filters(matched_only=False), None, TZ, "newest", limit=2)
    assert len(df) == 2
