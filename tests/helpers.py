"""Small helpers shared by the poller, CLI and UI tests."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")

REPORT_TAGS = {
    "腾讯": {"any": ["Tencent"]},
    "视频号电商": {"any": ["视频号小店", "视频号带货"]},
    "超级应用": {},
}


def write_config(
    folder: Path,
    sources: list[dict[str, object]],
    tags: dict[str, object] | None = None,
    **settings: object,
) -> Path:
    """A sources.yaml in `folder` with its own SQLite file and the shipped reports."""
    data: dict[str, object] = {
        "database_url": "sqlite:///reportwatch.db",
        "poll_interval": 60,
        "reports_dir": str(ROOT / "reports"),
        "sources": sources,
        "tags": REPORT_TAGS if tags is None else tags,
        **settings,
    }
    path = folder / "sources.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def cli(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `reportwatch` command in a subprocess."""
    extra = ["--config", str(config)] if config else []
    return subprocess.run(
        [sys.executable, "-m", "reportwatch.cli", *args, *extra],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def item(
    guid: str, title: str, description: str = "", hour: int = 10, published: object = None
) -> dict[str, object]:
    """An RSS item dict for tests/feedserver.rss, published on 2025-11-25 at `hour`:00 +0800
    (or at `published`, a string or an aware datetime)."""
    return {
        "title": title,
        "link": f"https://news.example/{guid}",
        "guid": guid,
        "description": description,
        "pubDate": published or f"Tue, 25 Nov 2025 {hour:02d}:00:00 +0800",
    }


TENCENT = item("a1", "腾讯发布财报", "Tencent 第三季度收入增长", 10)
SHOP = item("a2", "视频号小店推出新规", "商家关注视频号带货", 11)
APPLE = item("a3", "苹果发布新手机", "与本报告无关", 12)


def at_once(*calls: Callable[[], T]) -> list[T]:
    """Run each call in its own thread, released together; their results, or the first error
    (a poller that raised is a failure even when the others did all the work)."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[T | BaseException] = []

    def run(call: Callable[[], T]) -> None:
        barrier.wait()
        try:
            outcomes.append(call())
        except Exception as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return outcomes  # type: ignore[return-value]


def dashboard_text(config: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The main page's text (markdown, errors, title) for `config`, run once; a page that
    raised fails the test. Use with the `offline_app` fixture."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("REPORTWATCH_CONFIG", str(config))
    try:
        app = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
        assert not app.exception
        return "\n".join(str(e.value) for e in [*app.markdown, *app.error, *app.title])
    finally:
        st.cache_resource.clear()
