"""The live panel's logic as plain functions: honest status, relative times, baselines."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from reportwatch.store.queries import SourceHealth
from reportwatch.ui.markdown import escape_markdown, highlight, markdown_link
from reportwatch.ui.panel import (
    format_baseline,
    local_time,
    panel_status,
    parse_baseline,
    relative_time,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def source(status: str | None, checked_ago: float | None, ok_ago: float | None) -> SourceHealth:
    at = lambda s: None if s is None else NOW - timedelta(seconds=s)  # noqa: E731
    return SourceHealth(
        "虎嗅", "https://www.huxiu.com/rss/0.xml", True, status, at(checked_ago), at(ok_ago),
        "HTTP 500" if status == "error" else None, 3, 0, None, 0.1, 100, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("sources", "running", "configured", "state", "reason"),
    [
        ([], True, 0, "stopped", "reason_no_sources"),
        ([], True, 2, "never", None),  # configured, not yet polled: honest "not started"
        ([source("ok", 30, 30)], True, 1, "live", None),
        ([source("ok", 30, 30)], False, 1, "live", None),  # a worker polls recently
        ([source("not_modified", 100, 100)], True, 1, "live", None),
        ([source("ok", 900, 900)], True, 1, "delayed", None),
        ([source("ok", 900, 900)], False, 1, "stopped", "reason_no_poller"),
        ([source("error", 10, 900), source("error", 10, None)], True, 2, "stopped",
         "reason_all_failing"),
        ([source("error", 10, 900), source("ok", 10, 10)], True, 2, "live", None),
    ],
)  # fmt: skip
def test_panel_status(sources, running, configured, state, reason) -> None:
    last_ok = max((s.last_ok for s in sources if s.last_ok), default=None)
    status = panel_status(NOW, last_ok, None, 300, sources, running, configured)
    assert (status.state, status.reason) == (state, reason)


def test_relative_and_local_times() -> None:
    assert relative_time(NOW - timedelta(seconds=3), NOW) == "刚刚"
    assert relative_time(NOW - timedelta(minutes=3), NOW) == "3 分钟前"
    assert relative_time(NOW - timedelta(hours=5), NOW, "en") == "5 h ago"
    assert relative_time(NOW + timedelta(seconds=40), NOW) == "40 秒后"
    assert local_time(NOW, "Asia/Shanghai") == "2026-11-25 20:00:00"


def test_baseline_round_trip_and_garbage() -> None:
    assert parse_baseline(format_baseline(NOW)) == NOW
    assert parse_baseline("not-a-number") is None
    assert parse_baseline(None) is None


def test_feed_text_becomes_inert_markdown() -> None:
    hostile = "[点我](javascript:alert(1)) ![x](http://e/x.png) <b>粗</b> $x^2$ :red[红] # 标题"
    escaped = escape_markdown(hostile)
    # Every character that could start a link, image, tag, formula or directive is escaped.
    assert not re.search(r"(?<!\\)[\[\]()$:<>!#]", escaped)
    assert "点我" in escaped and "红" in escaped
    assert markdown_link("标题", "javascript:alert(1)") == "标题"
    assert markdown_link("标题", "data:text/html,<script>") == "标题"
    assert markdown_link("a)b", "https://e.example/p(1)") == "[a\\)b](https://e.example/p%281%29)"
    assert highlight("腾讯发布财报", [(0, 2)]) == "**腾讯**发布财报"
