"""The 实时监测中 panel under AppTest, against a store filled by real poll cycles (on a SQLite
file and on PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from reportwatch.config.settings import load_config
from reportwatch.poll.cycle import run_cycle
from reportwatch.store.core import open_store
from reportwatch.store.schema import sources
from reportwatch.ui.panel import format_baseline
from tests.feedserver import FeedServer, rss
from tests.helpers import APPLE, ROOT, SHOP, TENCENT, write_config

# AppTest runs the app in this process: no embedded poller, nothing reaches the internet.
pytestmark = pytest.mark.usefixtures("offline_app")


@pytest.fixture
def polled(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
):
    feed_server.set_feed("/feed.xml", rss([TENCENT, SHOP, APPLE]))
    listed = [{"name": "本地源", "url": feed_server.url("/feed.xml")}]
    config = write_config(tmp_path, listed, database_url=database_url)
    monkeypatch.setenv("REPORTWATCH_CONFIG", str(config))
    loaded = load_config(config)
    store = open_store(loaded.config.database_url)
    run_cycle(loaded, store, force=True)
    return loaded, store


def app_with(**params: str | list[str]) -> AppTest:
    app = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=30)
    for key, value in params.items():
        app.query_params[key] = value
    return app.run()


def texts(app: AppTest) -> str:
    elements = [*app.markdown, *app.info, *app.caption, *app.subheader]
    return "\n".join(str(e.value) for e in elements).replace("**", "")  # bold = highlights


def test_live_panel_lists_matches_newest_first(polled) -> None:
    app = app_with()
    assert not app.exception
    text = texts(app)
    assert "运行中" in text and "最后更新: 20" in text and "刚刚" in text
    assert text.index("视频号小店推出新规") < text.index("腾讯发布财报")
    assert "苹果发布新手机" not in text
    assert "自 2025-07-30 验证以来 2 条相关新动态" in text
    assert any("验证后出现 2 条相关新动态" in w.value for w in app.warning)


def test_entries_seen_before_the_baseline_are_not_new(polled) -> None:
    before = format_baseline(datetime.now(UTC) - timedelta(hours=1))
    app = app_with(seen=before)
    assert "2 条新动态" in texts(app)
    assert sum(":red-badge[新]" in m.value for m in app.markdown) == 2
    app.button(key="mark_read").click().run()
    assert sum(":red-badge[新]" in m.value for m in app.markdown) == 0
    assert float(app.query_params["seen"]) > float(before)


def test_first_visit_sets_a_baseline_in_the_url(polled) -> None:
    app = app_with()
    assert app.query_params["seen"]
    assert sum(":red-badge[新]" in m.value for m in app.markdown) == 0


def test_tag_filter_from_query_parameters(polled) -> None:
    app = app_with(tag="视频号电商")
    text = texts(app)
    assert "视频号小店推出新规" in text and "腾讯发布财报" not in text
    assert "视频号电商 (1)" in str(app.get("button_group")[0].proto)


def test_filter_that_excludes_everything_says_so(polled) -> None:
    app = app_with(tag="代理人战争")
    assert "当前标签筛选下没有条目" in texts(app)


def test_delayed_when_the_last_success_is_old(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
):
    # A worker keeps checking (a failing source, just now) but the last success is 2 hours old.
    feed_server.set_feed("/feed.xml", rss([TENCENT]))
    feed_server.set_response("/down.xml", 500)
    config = write_config(
        tmp_path,
        [
            {"name": "好源", "url": feed_server.url("/feed.xml")},
            {"name": "坏源", "url": feed_server.url("/down.xml")},
        ],
        database_url=database_url,
    )
    monkeypatch.setenv("REPORTWATCH_CONFIG", str(config))
    loaded = load_config(config)
    store = open_store(loaded.config.database_url)
    run_cycle(loaded, store, force=True)
    old = datetime.now(UTC) - timedelta(hours=2)
    with store.engine.begin() as conn:
        conn.execute(sources.update().where(sources.c.name == "好源").values(
            last_ok=old, last_checked=old))  # fmt: skip
    text = texts(app_with())
    assert "延迟" in text and "2 小时前" in text and "运行中" not in text


def test_stopped_when_every_source_fails(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
):
    feed_server.set_response("/down.xml", 503)
    listed = [{"name": "坏源", "url": feed_server.url("/down.xml")}]
    config = write_config(tmp_path, listed, database_url=database_url)
    monkeypatch.setenv("REPORTWATCH_CONFIG", str(config))
    loaded = load_config(config)
    run_cycle(loaded, open_store(loaded.config.database_url), force=True)
    text = texts(app_with())
    assert "已停止" in text and "所有来源都获取失败" in text
    assert "HTTP 503" in text  # the source's own error, in the status list


def test_nothing_polled_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    listed = [{"name": "本地", "url": "http://127.0.0.1:9/x.xml"}]
    config = write_config(tmp_path, listed, database_url=database_url)
    monkeypatch.setenv("REPORTWATCH_CONFIG", str(config))
    text = texts(app_with())
    assert "尚未轮询" in text and "最后更新: —" in text
