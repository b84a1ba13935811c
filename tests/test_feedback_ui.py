"""Feedback in the UI (issue 16), under streamlit.testing.v1.AppTest: each panel card says why
it has its tags (everyone); an editor marks a tag 不相关 or adds a missed one on a card or on
the explorer's selected row; viewers cannot."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from reportwatch.config.editors import add_editor
from reportwatch.config.settings import load_config
from reportwatch.store.core import open_store
from reportwatch.store.queries import matched_items
from tests.feedserver import FeedServer, rss
from tests.helpers import ROOT, SHOP, TENCENT, cli, write_config
from tests.test_auth import EDITOR, PASSWORD, sign_in_form

HOSTILE = {**TENCENT, "guid": "h1", "link": "https://news.example/h1",
           "title": "腾讯 [点我](javascript:alert(1)) **粗体** @all"}  # fmt: skip


@pytest.fixture
def site(feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REPORTWATCH_EMBEDDED_POLLER", "0")
    monkeypatch.delenv("REPORTWATCH_DATABASE_URL", raising=False)
    feed_server.set_feed("/feed.xml", rss([TENCENT, SHOP, HOSTILE]))
    config = write_config(tmp_path, [{"name": "本地源", "url": feed_server.url("/feed.xml")}])
    monkeypatch.setenv("REPORTWATCH_CONFIG", str(config))
    assert cli("poll", "--once", config=config).returncode == 0
    return config


def stories(config: Path) -> dict[str, tuple[int, list[str]]]:
    store = open_store(load_config(config).config.database_url)
    try:
        return {i.title: (i.story, sorted(i.tags)) for i in matched_items(store, limit=50)}
    finally:
        store.close()


def open_report(editor: bool, config: Path) -> AppTest:
    app = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=30).run()
    if editor:
        add_editor(config, EDITOR, PASSWORD)
        app.switch_page("pages/sources.py").run()
        app = sign_in_form(app, EDITOR, PASSWORD)
        app.switch_page("pages/report.py").run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def text_of(app: AppTest) -> str:
    return "\n".join(str(m.value) for m in [*app.markdown, *app.caption])


def test_every_card_says_why_and_viewers_get_no_feedback_controls(site: Path) -> None:
    app = open_report(False, site)
    shown = text_of(app)
    assert "规则 腾讯:命中" in shown and "标题" in shown  # the rule and where it hit
    assert not [w for w in app.segmented_control if str(w.key).startswith("fb:")]
    assert "javascript" not in shown.replace("javascript\\:", "")  # feed text stays inert
    assert "[点我](" not in shown


def test_an_editor_marks_a_tag_irrelevant_and_adds_a_missed_one(site: Path) -> None:
    before = stories(site)
    tencent_story, tags = before[TENCENT["title"]]
    assert tags == ["腾讯"]
    app = open_report(True, site)
    control = app.segmented_control(key=f"fb:panel:{tencent_story}:腾讯")
    control.set_value("irrelevant").run()
    assert not app.exception, [e.value for e in app.exception]
    assert TENCENT["title"] not in stories(site)  # no tag left: off the panel and `items`
    assert not [w for w in app.segmented_control if w.key == f"fb:panel:{tencent_story}:腾讯"]

    shop_story, shop_tags = before[SHOP["title"]]
    assert "超级应用" not in shop_tags
    app.selectbox(key=f"fb-add:panel:{shop_story}").set_value("超级应用").run()
    app.button(key=f"fb-add-go:panel:{shop_story}").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert "超级应用" in stories(site)[SHOP["title"]][1]
    assert "分析师判定 超级应用:相关" in text_of(app)

    exported = cli("feedback", "export", config=site).stdout
    assert exported.count("\n") == 2 and EDITOR in exported


def test_the_explorer_selected_row_has_why_and_feedback(site: Path) -> None:
    app = open_report(True, site)
    app.switch_page("pages/explorer.py").run()
    assert not app.exception, [e.value for e in app.exception]
    assert "选中一行" in text_of(app)
    assert not [w for w in app.segmented_control if str(w.key).startswith("fb:explorer:")]
    # AppTest cannot click a dataframe row: the selection is put where the click puts it.
    app.session_state["ex_table"] = {"selection": {"rows": [0], "columns": []}}
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    ids = {story for story, _ in stories(site).values()}
    chosen = [w for w in app.segmented_control if str(w.key).startswith("fb:explorer:")]
    assert chosen and int(str(chosen[0].key).split(":")[2]) in ids
    assert "规则 " in text_of(app)


def test_feedback_on_a_card_in_chromium(feed_server: FeedServer, tmp_path: Path) -> None:
    """An editor opens 反馈 on a card and marks 腾讯 不相关: the toast confirms, the card leaves
    the panel, and a viewer in another browser session sees why the other cards are there."""
    from tests.browser import APP_READY, chromium, open_app, streamlit_server
    from tests.test_browser import card_of

    feed_server.set_feed("/feed.xml", rss([TENCENT, SHOP]))
    config = write_config(tmp_path, [{"name": "本地源", "url": feed_server.url("/feed.xml")}],
                          poll_interval=5)  # fmt: skip
    assert cli("poll", "--once", config=config).returncode == 0
    add_editor(config, EDITOR, PASSWORD)
    with streamlit_server(config) as base, chromium() as browser:
        page = open_app(browser, base + "/sources")
        sidebar = page.locator("[data-testid='stSidebar']")
        sidebar.get_by_label("名称").fill(EDITOR)
        sidebar.get_by_label("密码", exact=True).fill(PASSWORD)
        sidebar.get_by_role("button", name="登录").click()
        sidebar.get_by_text(f"已以编辑身份登录:{EDITOR}").wait_for(timeout=30_000)
        # In-app navigation keeps the session (and the sign-in); a new page load would not.
        page.locator(f"[data-testid='stSidebarNavLink'][href='{base}/']").click()
        page.wait_for_selector(APP_READY, timeout=60_000)
        card = card_of(page, TENCENT["title"])
        card.wait_for(timeout=30_000)
        card.get_by_role("button", name="反馈").click()
        popover = page.locator("[data-testid='stPopoverBody']").last
        popover.get_by_role("radio", name="不相关").click()
        page.get_by_text("已记录「腾讯」的判断").wait_for(timeout=30_000)
        page.get_by_text(TENCENT["title"]).wait_for(state="detached", timeout=30_000)
        assert page.get_by_text(SHOP["title"]).count() >= 1

        viewer = open_app(browser, base + "/")
        viewer.wait_for_selector(APP_READY, timeout=60_000)
        shop = card_of(viewer, SHOP["title"])
        shop.wait_for(timeout=30_000)
        assert shop.get_by_role("button", name="反馈").count() == 0
        shop.get_by_role("button", name="为什么").click()
        viewer.locator("[data-testid='stPopoverBody']").last.get_by_text(
            "规则 视频号电商"
        ).wait_for(timeout=30_000)
    store = open_store(load_config(config).config.database_url)
    try:
        verdicts = store.feedback()
    finally:
        store.close()
    assert [(v.tag, v.relevant, v.analyst) for v in verdicts] == [("腾讯", False, EDITOR)]
