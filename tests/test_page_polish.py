"""What a user notices on every page (issue 12): no table cell reads None/NaN/NaT, each page
names its browser tab, and trends with only older matches says so and offers the range that
shows them. AppTest against stores filled by real poll cycles; the tab titles in Chromium too."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import streamlit as st
from playwright.sync_api import expect
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Dataframe

from reportwatch.config.opml import build_opml
from reportwatch.config.settings import load_config
from reportwatch.poll.cycle import run_cycle
from reportwatch.store import explore
from reportwatch.store.analysis import RANGES, RangeHint, fitting_range, range_hint
from reportwatch.store.core import Store, open_store
from reportwatch.store.queries import source_health
from reportwatch.ui import explore as explore_view
from reportwatch.ui import tables
from reportwatch.ui.app import MISSING
from reportwatch.ui.i18n import page_title
from reportwatch.ui.panel import tab_title
from tests.analysis_data import recent
from tests.browser import chromium, open_app, streamlit_server
from tests.feedserver import FeedServer, rss
from tests.helpers import ROOT, write_config
from tests.test_auth import as_editor

REPORT_TITLE = "微信电商突围:超级应用能否打破电商困局?"
PAGES = {"report": "pages/report.py", "explorer": "pages/explorer.py",
         "trends": "pages/trends.py", "sources": "pages/sources.py"}  # fmt: skip
NOT_A_VALUE = {"None", "none", "NaN", "nan", "NaT", "<NA>", "null", "NULL"}

# AppTest runs the app in this process: no embedded poller, nothing reaches the internet.
pytestmark = pytest.mark.usefixtures("offline_app")


def poll(
    server: FeedServer, folder: Path, monkeypatch: pytest.MonkeyPatch, feed: list[dict[str, Any]]
) -> Store:
    """A good source serving `feed`, a failing one and a disabled one; one real cycle."""
    server.set_feed("/feed.xml", rss(feed))
    server.set_response("/down.xml", 500)
    listed = [
        {"name": "本地源", "url": server.url("/feed.xml")},
        {"name": "坏源", "url": server.url("/down.xml")},
        {"name": "停用源", "url": server.url("/off.xml"), "enabled": False},  # never checked
    ]
    config = write_config(folder, listed)
    monkeypatch.setenv("REPORTWATCH_CONFIG", str(config))
    loaded = load_config(config)
    store = open_store(loaded.config.database_url)
    run_cycle(loaded, store, force=True)
    return store


def open_page(page: str, lang: str = "zh", **params: str | list[str]) -> AppTest:
    app = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=30)
    app.session_state["lang"] = lang
    app.run()
    for key, value in params.items():
        app.query_params[key] = value
    app.switch_page(PAGES[page]).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def has_button(app: AppTest, key: str) -> bool:
    return any(button.key == key for button in app.button)


def shown(app: AppTest) -> str:
    parts = [*app.title, *app.info, *app.caption, *app.markdown, *app.warning]
    return "\n".join(str(e.value) for e in parts)


def cells(table: Dataframe) -> pd.DataFrame:
    """The table as the grid draws it: a missing value (None, NaN, NaT) as the table's
    placeholder, which Streamlit leaves at the text "None" unless one is given."""
    placeholder = table.proto.placeholder if table.proto.HasField("placeholder") else "None"

    def draw(value: object) -> str:
        if isinstance(value, list | tuple) or hasattr(value, "tolist"):
            return ", ".join(draw(v) for v in list(value))  # a list column: its items
        return placeholder if value is None or pd.isna(value) else str(value)

    return table.value.map(draw)


def assert_no_missing_text(app: AppTest) -> list[pd.DataFrame]:
    drawn = [cells(table) for table in app.dataframe]
    for frame in drawn:
        bad = {v for v in frame.to_numpy().ravel() for word in NOT_A_VALUE if word in v.split()}
        assert not bad, bad
    return drawn


# -- item 3: empty, not None ------------------------------------------------------------------


@pytest.fixture
def mixed(feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """Entries with and without a date or a safe link; sources ok, failing, never checked."""
    undated = {**recent("u1", "腾讯无日期快讯", "Tencent"), "pubDate": None}
    unsafe = {**recent("u2", "视频号小店脚本链接", "视频号带货"), "link": "javascript:alert(1)"}
    feed = [recent("b1", "腾讯发布财报", "Tencent 第三季度收入增长", 2), undated, unsafe,
            recent("b3", "苹果发布新手机", "", 7)]  # fmt: skip
    return poll(feed_server, tmp_path, monkeypatch, feed)


def test_no_table_on_any_page_shows_none_nan_or_nat(mixed, feed_server: FeedServer) -> None:
    for page in PAGES:
        assert_no_missing_text(open_page(page, all="1"))  # every table there is, now or later

    explorer = assert_no_missing_text(open_page("explorer", all="1"))[0].set_index("title")
    assert explorer.loc["腾讯无日期快讯", "published"] == MISSING
    assert explorer.loc["视频号小店脚本链接", "link"] == MISSING
    assert explorer.loc["苹果发布新手机", "tags"] == ""  # unmatched: no tag, an empty cell

    sources = open_page("sources")
    health = assert_no_missing_text(sources)[0].set_index("name")
    assert health.loc["本地源", "error"] == ""  # healthy: nothing in the error column
    assert "HTTP 500" in health.loc["坏源", "error"] and health.loc["坏源", "last_ok"] == MISSING
    never = health.loc["停用源"]
    assert (never[["last_checked", "last_ok", "latency", "bytes", "next_due"]] == MISSING).all()

    opml = build_opml([("新源", "https://feeds.example/a.xml"), ("坏", "ftp://x/")])
    sources = as_editor(sources, Path(os.environ["REPORTWATCH_CONFIG"]))  # import: editors only
    sources.file_uploader(key="opml_file").upload("feeds.opml", opml).run()
    assert len(assert_no_missing_text(sources)) == 2  # the import preview too


def test_explorer_frame_and_health_frame_hold_no_none_text(mixed) -> None:
    found = explore.rows(mixed, explore.Filters(matched_only=False), limit=10)
    frame = explore_view.frame(found, None, "Asia/Shanghai")
    health = tables.health_frame(source_health(mixed, True), "Asia/Shanghai", "zh")
    for df, text_columns in [(frame, ["title", "source", "summary"]),
                             (health, ["name", "status", "error", "url"])]:  # fmt: skip
        assert all(isinstance(v, str) for column in text_columns for v in df[column])


# -- item 4: every page names itself ----------------------------------------------------------


def test_page_title_helpers() -> None:
    assert page_title("trends") == "趋势 · reportwatch"
    assert page_title("explorer", "zh") == "条目浏览 · reportwatch"
    assert page_title("sources", "zh") == "来源 · reportwatch"
    assert page_title("report", "zh") == "报告 · reportwatch"
    assert page_title("trends", "en") == "Trends · reportwatch"
    assert page_title("explorer", "en") == "Explorer · reportwatch"
    assert page_title("sources", "en") == "Sources · reportwatch"
    assert tab_title("报告") == "报告" and tab_title("报告", 3) == "(3) 报告"


@pytest.fixture
def titles(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The tab titles a run sets, in order (AppTest keeps no page config)."""
    seen: list[str] = []
    original = st.set_page_config

    def spy(*args: Any, **kwargs: Any) -> None:
        if kwargs.get("page_title"):
            seen.append(kwargs["page_title"])
        original(*args, **kwargs)

    monkeypatch.setattr(st, "set_page_config", spy)
    yield seen


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_sets_its_tab_title_in_the_ui_language(
    mixed, titles: list[str], lang: str
) -> None:
    for page in ("explorer", "trends", "sources"):
        titles.clear()
        open_page(page, lang)
        assert titles[-1] == page_title(page, lang)
    titles.clear()
    open_page("report", lang)
    assert titles[-1] == REPORT_TITLE  # the report's own title, the new count when there is one


def test_report_tab_carries_the_new_count(mixed, titles: list[str]) -> None:
    seen = datetime.now(UTC) - timedelta(days=1)
    open_page("report", seen=f"{seen.timestamp():.3f}")
    assert titles[-1] == tab_title(REPORT_TITLE, 3)  # every matched entry is new since then


def test_tab_titles_in_chromium(mixed, tmp_path: Path) -> None:
    config = tmp_path / "sources.yaml"  # written by `mixed`
    with streamlit_server(config, {"REPORTWATCH_EMBEDDED_POLLER": "0"}) as base:
        with chromium() as browser:
            for path, title in [("/", REPORT_TITLE),
                                ("/explorer", "条目浏览 · reportwatch"),
                                ("/trends", "趋势 · reportwatch"),
                                ("/sources", "来源 · reportwatch")]:  # fmt: skip
                page = open_app(browser, base + path)
                expect(page).to_have_title(title)
                page.close()


# -- item 5: trends' default range fits the data ----------------------------------------------


NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_fitting_range_is_the_smallest_window_holding_the_newest_match() -> None:
    assert fitting_range(NOW - timedelta(hours=3), NOW) == "1d"
    assert fitting_range(NOW - timedelta(days=1), NOW) == "1d"  # windows start at now - days
    assert fitting_range(NOW - timedelta(days=1, seconds=1), NOW) == "7d"
    assert fitting_range(NOW - timedelta(days=20), NOW) == "30d"
    assert fitting_range(NOW - timedelta(days=200), NOW) == "365d"
    assert fitting_range(NOW - timedelta(days=366), NOW) is None
    assert fitting_range(NOW + timedelta(hours=1), NOW) is None  # the future is in no range
    assert list(RANGES) == sorted(RANGES, key=RANGES.get)  # the order the radio offers


def test_range_hint_reads_the_newest_match_before_now(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = poll(feed_server, tmp_path, monkeypatch, [])
    now = datetime.now(UTC)
    assert range_hint(store, now) is None  # nothing matched: the plain empty message
    published = (now - timedelta(days=40)).replace(microsecond=0)
    feed = [recent("o1", "腾讯旧闻", "Tencent"), recent("o2", "视频号小店旧闻", "")]
    feed[0]["pubDate"], feed[1]["pubDate"] = published, published - timedelta(days=30)
    store = poll(feed_server, tmp_path, monkeypatch, feed)
    assert range_hint(store, published + timedelta(days=3)) == RangeHint(published, "7d")
    assert range_hint(store, now) == RangeHint(published, "90d")
    assert range_hint(store, now, ["视频号电商"]) == RangeHint(
        published - timedelta(days=30), "90d"
    )
    assert range_hint(store, published + timedelta(days=400)) == RangeHint(published, None)
    assert range_hint(store, published, ["腾讯"]) is None  # only matches before now count
    assert range_hint(store, now, ["代理人战争"]) is None
    assert range_hint(store, now, ["腾讯\x00"]) is None  # a tag no row can hold


@pytest.fixture
def old(feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """Matches from about three weeks ago only: the default 7 days show nothing."""
    feed = [recent("o1", "腾讯发布财报", "Tencent", hours_ago=20 * 24),
            recent("o2", "视频号小店推出新规", "视频号带货", hours_ago=22 * 24)]  # fmt: skip
    return poll(feed_server, tmp_path, monkeypatch, feed)


def test_trends_with_only_older_matches_offers_the_range_that_shows_them(old) -> None:
    app = open_page("trends")
    assert "所选范围(7 天)内没有匹配的条目" in shown(app) and "最新一条匹配在 20" in shown(app)
    assert not app.get("plotly_chart")
    offer = app.button(key="tr_fit")
    assert offer.label == "查看 30 天"
    offer.click().run()
    assert app.query_params["range"] == "30d" and app.radio(key="tr_range").value == "30d"
    charts = app.get("plotly_chart")
    assert len(charts) == 3 and "没有匹配的条目" not in shown(app)
    assert {t["name"] for t in json.loads(charts[0].proto.spec)["data"]} == {"腾讯", "视频号电商"}


def test_trends_hint_follows_the_language_and_the_tag_filter(old) -> None:
    app = open_page("trends", "en", tag="腾讯", range="1d")
    assert "No matched entries in the chosen range (24 hours)" in shown(app)
    assert app.button(key="tr_fit").label == "Show 30 days"


def test_trends_with_matches_older_than_every_range_points_to_the_explorer(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ancient = recent("a1", "腾讯旧闻", "Tencent", hours_ago=500 * 24)
    poll(feed_server, tmp_path, monkeypatch, [ancient])
    app = open_page("trends")
    assert "早于所有可选范围" in shown(app) and not app.get("plotly_chart")
    assert [link.proto.page for link in app.get("page_link")][-1].endswith("explorer")
    assert not has_button(app, "tr_fit")  # no range to offer


def test_trends_with_nothing_matched_keeps_the_plain_message(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    poll(feed_server, tmp_path, monkeypatch, [recent("x", "苹果发布新手机", "")])
    app = open_page("trends")
    assert "所选时间范围内没有匹配的条目" in shown(app) and not has_button(app, "tr_fit")
