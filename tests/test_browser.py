"""End to end in headless Chromium: the real server, a local feed, what an analyst sees."""

from __future__ import annotations

from pathlib import Path

from tests.browser import chromium, open_app, streamlit_server
from tests.feedserver import FeedServer, rss
from tests.helpers import write_config

ITEM = {
    "title": "腾讯视频号小店推出新政策",
    "link": "https://news.example/v1",
    "guid": "v1",
    "description": "视频号带货迎来新规则",
    "pubDate": "Tue, 25 Nov 2025 10:00:00 +0800",
}


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
