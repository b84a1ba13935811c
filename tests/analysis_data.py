"""A store filled by a real poll cycle for the analysis-page tests (explorer, trends, sources).

Dates are relative to now, so the trends page's default range (7 days) contains them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reportwatch.config.settings import LoadedConfig, load_config
from reportwatch.poll.cycle import run_cycle
from reportwatch.store.core import Store, open_store
from tests.feedserver import FeedServer, rss
from tests.helpers import item, write_config


def recent(guid: str, title: str, description: str = "", hours_ago: float = 1) -> dict[str, Any]:
    return item(guid, title, description, published=datetime.now(UTC) - timedelta(hours=hours_ago))


def items() -> list[dict[str, Any]]:
    return [
        recent("b1", "腾讯发布财报", "Tencent 第三季度收入增长", 2),
        recent("b2", "微信视频号小店推出新规", "商家关注视频号带货", 5),
        recent("b3", "苹果发布新手机", "与本报告无关", 7),
        recent("b4", '=HYPERLINK("http://evil.example")视频号带货', "公式注入测试", 30),
    ]


def fill(
    feed_server: FeedServer,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    failing: bool = True,
    **settings: object,
) -> tuple[LoadedConfig, Store]:
    """One good source (and a failing one), one real cycle; REPORTWATCH_CONFIG points at it."""
    feed_server.set_feed("/feed.xml", rss(items()))
    feed_server.set_response("/down.xml", 500)
    listed = [{"name": "本地源", "url": feed_server.url("/feed.xml")}]
    if failing:
        listed.append({"name": "坏源", "url": feed_server.url("/down.xml")})
    config = write_config(folder, listed, **settings)
    monkeypatch.setenv("REPORTWATCH_CONFIG", str(config))
    loaded = load_config(config)
    store = open_store(loaded.config.database_url)
    run_cycle(loaded, store, force=True)
    return loaded, store
