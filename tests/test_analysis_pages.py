"""Explorer, trends and sources pages under AppTest, against a store filled by a real cycle
(on a SQLite file and on PostgreSQL: the pages' queries, search and date buckets differ)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from streamlit.testing.v1 import AppTest

from reportwatch.config.opml import build_opml
from reportwatch.config.settings import load_config
from reportwatch.poll.cycle import run_cycle
from reportwatch.store.core import open_store
from reportwatch.ui.panel import format_baseline
from tests.analysis_data import fill, recent
from tests.feedserver import FeedServer, rss
from tests.helpers import ROOT, write_config
from tests.test_auth import as_editor

# AppTest runs the app in this process: no embedded poller, nothing reaches the internet.
pytestmark = pytest.mark.usefixtures("offline_app")


@pytest.fixture
def polled(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
):
    return fill(feed_server, tmp_path, monkeypatch, database_url=database_url)


@pytest.fixture
def empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Path:
    """Configured but never polled: the store exists and holds nothing."""
    local = [{"name": "本地", "url": "http://127.0.0.1:9/feed.xml"}]
    config = write_config(tmp_path, local, database_url=database_url)
    monkeypatch.setenv("REPORTWATCH_CONFIG", str(config))
    return config


def open_page(page: str, **params: str | list[str]) -> AppTest:
    app = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=30).run()
    for key, value in params.items():
        app.query_params[key] = value
    app.switch_page(page).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def shown(app: AppTest) -> str:
    parts = [*app.title, *app.subheader, *app.caption, *app.info, *app.warning, *app.error,
             *app.success, *app.markdown]  # fmt: skip
    return "\n".join(str(e.value) for e in parts)


def param(app: AppTest, key: str) -> list[str]:
    value = app.query_params.get(key, [])
    return [value] if isinstance(value, str) else list(value)


def table_titles(app: AppTest) -> list[str]:
    return app.dataframe[0].value["title"].tolist()


# -- explorer -------------------------------------------------------------------------------


def test_explorer_lists_matched_entries(polled) -> None:
    app = open_page("pages/explorer.py")
    assert app.title[0].value == "条目浏览"
    assert "共 3 条" in shown(app)
    df = app.dataframe[0].value
    assert set(df["title"]) == {"腾讯发布财报", "微信视频号小店推出新规",
                                '=HYPERLINK("http://evil.example")视频号带货'}  # fmt: skip
    assert all(link.startswith("https://news.example/") for link in df["link"])
    assert {b.proto.label for b in app.get("download_button")} == {"导出 CSV", "导出 JSON"}


def test_explorer_search_and_toggles_follow_the_url(polled) -> None:
    app = open_page("pages/explorer.py", q="视频号")
    assert len(table_titles(app)) == 2
    app.text_input(key="ex_q").set_value("腾讯").run()  # a two-character query: LIKE
    assert table_titles(app) == ["腾讯发布财报"] and param(app, "q") == ["腾讯"]
    app.text_input(key="ex_q").set_value("").run()
    app.toggle(key="ex_all").set_value(True).run()
    assert len(table_titles(app)) == 4 and param(app, "all") == ["1"]
    assert "q" not in app.query_params


def test_explorer_tag_filter_in_the_sidebar(polled) -> None:
    app = open_page("pages/explorer.py", tag="腾讯")
    assert table_titles(app) == ["腾讯发布财报"]
    app.multiselect(key="side_tags").set_value(["视频号电商"]).run()
    assert param(app, "tag") == ["视频号电商"] and len(table_titles(app)) == 2


def test_explorer_new_only_uses_the_baseline(polled) -> None:
    old = format_baseline(datetime.now(UTC) - timedelta(hours=1))
    app = open_page("pages/explorer.py", seen=old, new="1")
    assert len(table_titles(app)) == 3 and all(app.dataframe[0].value["new"])
    app = open_page("pages/explorer.py", seen=format_baseline(datetime.now(UTC)), new="1")
    assert "没有符合当前筛选的条目" in shown(app)


def test_explorer_source_and_date_filters(polled) -> None:
    today = datetime.now(UTC).date()
    app = open_page(
        "pages/explorer.py", source="本地源", all="1", to=str(today - timedelta(days=5))
    )
    assert "没有符合当前筛选的条目" in shown(app)
    app = open_page(
        "pages/explorer.py", source=["本地源", "不存在"], **{"from": str(today - timedelta(days=3))}
    )
    assert len(table_titles(app)) == 3


def test_explorer_with_an_empty_store(empty) -> None:
    app = open_page("pages/explorer.py")
    assert "数据库里还没有条目" in shown(app)


# -- trends ---------------------------------------------------------------------------------


def test_trends_draws_plotly_figures_and_links_to_the_explorer(polled) -> None:
    app = open_page("pages/trends.py")
    charts = app.get("plotly_chart")
    assert len(charts) == 3
    spec = json.loads(charts[0].proto.spec)
    assert {trace["name"] for trace in spec["data"]} == {"视频号电商", "腾讯"}
    links = {link.proto.label: link.proto for link in app.get("page_link")}
    assert "视频号电商 · 2" in links and "本地源 · 3" in links
    query = parse_qs(links["视频号电商 · 2"].query_string)
    assert query["tag"] == ["视频号电商"] and query["report"] == ["wechat-ecommerce"]
    assert query["from"] and query["to"] and links["视频号电商 · 2"].page.endswith("explorer")


def test_trends_controls_switch_the_charts(polled) -> None:
    app = open_page("pages/trends.py", mode="stacked", by="hour")
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert all(trace.get("stackgroup") == "one" for trace in spec["data"])
    app.radio(key="tr_range").set_value("1d").run()
    assert param(app, "range") == ["1d"] and not app.exception
    assert len(app.get("plotly_chart")) == 3


def test_trends_with_an_empty_store(empty) -> None:
    app = open_page("pages/trends.py")
    assert "所选时间范围内没有匹配的条目" in shown(app)
    assert not app.get("plotly_chart")


# -- sources --------------------------------------------------------------------------------


def test_sources_page_names_the_failing_source_and_its_error(polled) -> None:
    app = open_page("pages/sources.py")
    assert "坏源" in shown(app) and "HTTP 500" in shown(app)
    health = app.dataframe[0].value.set_index("name")
    assert "HTTP 500" in health.loc["坏源", "error"] and health.loc["坏源", "failures"] == 1
    assert "失败" in health.loc["坏源", "status"] and "正常" in health.loc["本地源", "status"]
    assert health.loc["本地源", "entries"] == 4
    assert len(app.get("plotly_chart")) == 1  # the history of cycles
    assert any(b.proto.label == "导出 OPML" for b in app.get("download_button"))


def test_sources_with_an_empty_store(empty) -> None:
    app = open_page("pages/sources.py")
    assert "还没有来源记录" in shown(app) and "没有完成的轮询" in shown(app)


def opml_for(server: FeedServer) -> bytes:
    return build_opml([("新本地源", server.url("/feed.xml") + "?v=2"), ("坏源", "ftp://x/")])


def test_opml_import_refuses_local_addresses_by_default(polled, feed_server: FeedServer) -> None:
    loaded, _ = polled
    app = as_editor(open_page("pages/sources.py"), loaded.path)  # OPML import: editors only
    before = loaded.path.read_text(encoding="utf-8")
    app.file_uploader(key="opml_file").upload("feeds.opml", opml_for(feed_server)).run()
    preview = app.dataframe[1].value
    assert preview["verdict"].tolist() == ["拒绝", "拒绝"]
    assert "allow_private_sources" in preview["reason"][0] and "http" in preview["reason"][1]
    assert app.button(key="opml_merge").disabled
    assert loaded.path.read_text(encoding="utf-8") == before


def test_opml_import_merges_when_private_sources_are_allowed(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded, _ = fill(feed_server, tmp_path, monkeypatch, allow_private_sources=True)
    app = as_editor(open_page("pages/sources.py"), loaded.path)  # OPML import: editors only
    app.file_uploader(key="opml_file").upload("feeds.opml", opml_for(feed_server)).run()
    assert app.dataframe[1].value["verdict"].tolist() == ["新增", "拒绝"]
    app.button(key="opml_merge").click().run()
    assert "已把 1 个来源加入" in shown(app)
    names = [s.name for s in load_config(loaded.path).config.sources]
    assert names == ["本地源", "坏源", "新本地源"]


def test_add_source_form_checks_the_url(polled) -> None:
    loaded, _ = polled
    app = as_editor(open_page("pages/sources.py"), loaded.path)  # adding sources: editors only
    app.text_input(key="new_url").set_value("http://127.0.0.1:1/feed.xml")
    app.main.button[-1].click().run()  # the form's submit button (the sidebar has 退出登录)
    assert "内网或本机地址" in shown(app)
    assert len(load_config(loaded.path).config.sources) == 2


# -- shared sidebar -------------------------------------------------------------------------


def test_report_tag_and_baseline_follow_the_viewer_across_pages(polled) -> None:
    app = open_page("pages/explorer.py", tag="腾讯")
    remembered = {key: app.query_params[key] for key in ("tag", "report", "seen")}
    app.query_params.clear()  # the navigation menu drops the query string
    app.switch_page("pages/trends.py").run()
    assert {key: app.query_params[key] for key in remembered} == remembered
    assert {t["name"] for t in json.loads(app.get("plotly_chart")[0].proto.spec)["data"]} == {
        "腾讯"
    }
    assert app.sidebar.multiselect[0].value == ["腾讯"]


def test_explorer_pages_through_results(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    many = [recent(f"m{n}", f"腾讯快讯 {n}", "", hours_ago=n / 10) for n in range(60)]
    feed_server.set_feed("/many.xml", rss(many))
    listed = [{"name": "多", "url": feed_server.url("/many.xml")}]
    config = write_config(tmp_path, listed, database_url=database_url)
    monkeypatch.setenv("REPORTWATCH_CONFIG", str(config))
    loaded = load_config(config)
    run_cycle(loaded, open_store(loaded.config.database_url), force=True)
    app = open_page("pages/explorer.py")
    assert len(table_titles(app)) == 50 and "第 1/2 页" in shown(app)
    app.get("pagination")[0].set_value(2).run()
    assert table_titles(app) == [f"腾讯快讯 {n}" for n in range(50, 60)]
    app.text_input(key="ex_q").set_value("快讯 1").run()  # a new filter starts at page 1
    assert "第 1/1 页" in shown(app) and len(table_titles(app)) == 15  # 1, 10-19, 21 … 51


def test_url_values_no_row_can_hold_find_nothing(polled) -> None:
    # PostgreSQL text cannot hold NUL (psycopg refuses such a parameter); SQLite has no row
    # with one either. A crafted link shows an empty view on both, never an error.
    for page, params in [("pages/explorer.py", {"q": "视频号\x00"}),
                         ("pages/explorer.py", {"q": "\x00"}),
                         ("pages/explorer.py", {"tag": "腾讯\x00"})]:  # fmt: skip
        assert "没有符合当前筛选的条目" in shown(open_page(page, **params)), params
    assert "所选时间范围内没有匹配的条目" in shown(open_page("pages/trends.py", tag="腾讯\x00"))
