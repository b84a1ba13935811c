"""How long a new feed item takes to reach the screen of a viewer who keeps the page open."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import chromium, open_app, streamlit_server  # noqa: E402
from tests.feedserver import FeedServer, rss  # noqa: E402
from tests.helpers import item, write_config  # noqa: E402

POLL_INTERVAL = 5
UI_REFRESH = 5


def new_item_latency() -> tuple[float, float]:
    """(seconds until the item showed, the limit poll_interval + ui_refresh + 1)."""
    with FeedServer() as server, tempfile.TemporaryDirectory() as tmp:
        server.set_feed("/feed.xml", rss([item("old", "腾讯旧闻", "Tencent")]))
        config = write_config(
            Path(tmp), [{"name": "本地", "url": server.url("/feed.xml")}],
            poll_interval=POLL_INTERVAL, ui_refresh=UI_REFRESH,
        )  # fmt: skip
        with streamlit_server(config) as base, chromium() as browser:
            page = open_app(browser, base + "/")
            page.get_by_text("腾讯旧闻").first.wait_for(timeout=60_000)
            server.set_feed("/feed.xml", rss([item("new", "腾讯新消息到达", "Tencent")]))
            start = time.perf_counter()
            page.get_by_text("腾讯新消息到达").first.wait_for(timeout=60_000)
            return time.perf_counter() - start, POLL_INTERVAL + UI_REFRESH + 1


if __name__ == "__main__":
    seen, limit = new_item_latency()
    print(f"new item on screen after {seen:.1f} s   limit {limit:.0f} s")
