"""End to end in headless Chromium: the real server, a local feed, what an analyst sees."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Locator, Page

from tests.browser import APP_READY, chromium, open_app, streamlit_server
from tests.feedserver import FeedServer, rss
from tests.helpers import item, write_config

ITEM = {
    "title": "腾讯视频号小店推出新政策",
    "link": "https://news.example/v1",
    "guid": "v1",
    "description": "视频号带货迎来新规则",
    "pubDate": "Tue, 25 Nov 2025 10:00:00 +0800",
}


def card_of(page: Page, title: str) -> Locator:
    """The innermost bordered block holding `title` (ancestors come first in document order)."""
    return page.locator("[data-testid='stVerticalBlock']", has_text=title).last


def test_report_and_live_panel_in_chromium(feed_server: FeedServer, tmp_path: Path) -> None:
    feed_server.set_feed("/feed.xml", rss([ITEM]))
    config = write_config(
        tmp_path, [{"name": "本地虎嗅", "url": feed_server.url("/feed.xml")}], poll_interval=5
    )
    with streamlit_server(config) as base, chromium() as browser:
        page = open_app(browser, base + "/")
        body = page.locator("body")
        body.get_by_text("微信电商突围:超级应用能否打破电商困局?").first.wait_for()
        body.get_by_text("实时监测中").first.wait_for()
        body.get_by_text("最后更新").first.wait_for()
        # The embedded poller fetches the local feed; the panel shows the item without a reload.
        page.get_by_text("腾讯视频号小店推出新政策").first.wait_for(timeout=30_000)
        assert len(feed_server.requests("/feed.xml")) >= 1
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)


def test_new_matching_item_appears_live_flagged_new_and_survives_reload(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    old = item("old1", "腾讯旧闻:微信支付升级", "Tencent 旧消息", 9)
    feed_server.set_feed("/feed.xml", rss([old]))
    config = write_config(
        tmp_path,
        [{"name": "本地虎嗅", "url": feed_server.url("/feed.xml")}],
        poll_interval=5,
        ui_refresh=2,
    )
    with streamlit_server(config) as base, chromium() as browser:
        page = open_app(browser, base + "/?tag=腾讯")
        page.get_by_text("腾讯旧闻:微信支付升级").first.wait_for(timeout=30_000)
        fresh = item("new1", "腾讯宣布视频号新功能", "Tencent 新消息", 11)
        noise = item("new2", "苹果发布新款平板", "与报告无关", 12)
        feed_server.set_feed("/feed.xml", rss([fresh, noise, old]))
        card = card_of(page, "腾讯宣布视频号新功能")
        card.wait_for(timeout=30_000)  # poll_interval + ui_refresh + slack, no reload
        assert card.get_by_text("新", exact=True).count() >= 1
        assert page.get_by_text("苹果发布新款平板").count() == 0
        assert page.title().startswith("(")  # the tab carries the count of new entries
        url = page.url
        assert "seen=" in url and "tag=" in url
        page.reload()
        page.wait_for_selector(APP_READY, timeout=60_000)
        card = card_of(page, "腾讯宣布视频号新功能")
        card.wait_for(timeout=30_000)
        assert card.get_by_text("新", exact=True).count() >= 1
        assert page.get_by_text("苹果发布新款平板").count() == 0


def test_a_story_from_two_feeds_is_one_card_with_also_links(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    title = "腾讯宣布视频号小店升级为微信小店"
    feed_server.set_feed(
        "/huxiu.xml", rss([dict(ITEM, title=title, link="https://huxiu.example/1")])
    )
    feed_server.set_feed("/36kr.xml", rss([dict(ITEM, guid="k1", title=title,
                                                 link="https://36kr.example/p/1")]))  # fmt: skip
    config = write_config(
        tmp_path,
        [
            {"name": "虎嗅", "url": feed_server.url("/huxiu.xml")},
            {"name": "36氪", "url": feed_server.url("/36kr.xml")},
        ],  # fmt: skip
        poll_interval=5,
    )
    with streamlit_server(config) as base, chromium() as browser:
        page = open_app(browser, base + "/")
        card = card_of(page, title)
        card.wait_for(timeout=30_000)
        card.get_by_text("另见").first.wait_for(timeout=30_000)  # once both feeds are stored
        assert page.get_by_text(title).count() == 1  # one card, not two
        # The card links its own copy (the title) and the other feed's (its source's name).
        hrefs = {card.get_by_role("link").nth(i).get_attribute("href") for i in range(2)}
        assert hrefs == {"https://huxiu.example/1", "https://36kr.example/p/1"}
        names = {"虎嗅", "36氪"}
        assert sum(card.get_by_role("link", name=n, exact=True).count() for n in names) == 1
        page.screenshot(path=str(tmp_path / "also.png"), full_page=True)
