"""Figure builders (no Streamlit) and the GROUP BY aggregations that feed them (on a SQLite file
and on PostgreSQL, whose date bucketing is its own SQL)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import plotly.graph_objects as go
import pytest
from sqlalchemy import select

from reportwatch.store import analysis
from reportwatch.store.queries import source_health
from reportwatch.store.schema import matches
from reportwatch.ui import figures, tables
from tests.analysis_data import fill
from tests.feedserver import FeedServer

TZ = "Asia/Shanghai"


def series(rows: list[tuple[str, str, int]], name: str = "tag") -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["bucket", name, "count"])
    df["bucket"] = pd.to_datetime(df["bucket"])
    return df


DAYS = series(
    [("2025-11-20", "腾讯", 2), ("2025-11-22", "腾讯", 1), ("2025-11-22", "视频号电商", 5)]
)


def test_tag_timeline_lines_fill_missing_days_with_zero() -> None:
    fig = figures.tag_timeline(DAYS, "day", stacked=False, title="t", y_title="matches")
    assert isinstance(fig, go.Figure)
    assert [trace.name for trace in fig.data] == ["视频号电商", "腾讯"]  # biggest first
    tencent = fig.data[1]
    assert list(tencent.y) == [2, 0, 1]  # 11-21 had no match: a zero, not a gap
    assert len(tencent.x) == 3 and tencent.mode == "lines+markers" and tencent.stackgroup is None
    assert fig.layout.yaxis.title.text == "matches" and fig.layout.xaxis.type == "category"
    assert list(tencent.x) == ["2025-11-20", "2025-11-21", "2025-11-22"]


def test_tag_timeline_stacked_and_hourly() -> None:
    hours = series([("2025-11-22 08:00", "a", 1), ("2025-11-22 11:00", "b", 3)])
    fig = figures.tag_timeline(hours, "hour", stacked=True)
    assert all(trace.stackgroup == "one" for trace in fig.data)
    assert len(fig.data[0].x) == 4  # 08, 09, 10, 11
    assert fig.layout.xaxis.type is None  # a time axis


def test_source_bars_are_stacked() -> None:
    df = series([("2025-11-21", "虎嗅", 3), ("2025-11-21", "36氪", 1)], "source")
    fig = figures.source_bars(df, "day")
    assert fig.layout.barmode == "stack"
    assert {trace.name for trace in fig.data} == {"虎嗅", "36氪"}
    assert all(isinstance(trace, go.Bar) for trace in fig.data)


def test_heatmap_is_tags_by_days() -> None:
    fig = figures.tag_heatmap(DAYS)
    (heat,) = fig.data
    assert isinstance(heat, go.Heatmap)
    assert list(heat.x) == ["2025-11-20", "2025-11-21", "2025-11-22"]
    assert list(heat.y) == ["视频号电商", "腾讯"]
    assert [list(row) for row in heat.z] == [[0, 0, 5], [2, 0, 1]]


def test_labels_are_escaped_for_plotly() -> None:
    df = series([("2025-11-21", '<a href="javascript:x">点我</a>', 1)], "source")
    name = figures.source_bars(df).data[0].name
    assert "<a" not in name and "&lt;a" in name


def test_empty_frames_give_empty_figures() -> None:
    empty = series([])
    assert figures.tag_timeline(empty).data == ()
    assert figures.source_bars(series([], "source")).data == ()
    assert figures.tag_heatmap(empty).data == ()
    no_runs = pd.DataFrame(columns=["started", "duration", "new_entries", "errors"])
    assert figures.run_history(no_runs).data == ()


def test_run_history_has_three_rows() -> None:
    df = pd.DataFrame(
        {
            "started": pd.to_datetime(["2025-11-25 10:00", "2025-11-25 10:05"], utc=True),
            "duration": [1.5, 0.7],
            "new_entries": [4, 0],
            "errors": [1, 1],
        }
    )
    fig = figures.run_history(df, ("duration", "new", "errors"))
    assert [type(trace).__name__ for trace in fig.data] == ["Scatter", "Bar", "Bar"]
    assert [trace.yaxis for trace in fig.data] == ["y", "y2", "y3"]
    assert list(fig.data[2].y) == [1, 1]


@pytest.fixture
def filled(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
):
    return fill(feed_server, tmp_path, monkeypatch, database_url=database_url)


def test_tag_and_source_series_group_in_sql(filled) -> None:
    loaded, store = filled
    now = datetime.now(UTC)
    start = now - timedelta(days=7)
    by_tag = analysis.tag_series(store, start, now, "day", TZ)
    assert analysis.totals(by_tag, "tag") == {"视频号电商": 2, "腾讯": 1}
    only = analysis.tag_series(store, start, now, "hour", TZ, ["腾讯"])
    assert only["tag"].tolist() == ["腾讯"] and only["bucket"][0].minute == 0
    by_source = analysis.source_series(store, start, now, "day", TZ)
    assert analysis.totals(by_source, "source") == {"本地源": 3}
    recent = analysis.tag_series(store, now - timedelta(hours=6), now, "day", TZ)
    assert analysis.totals(recent, "tag") == {"视频号电商": 1, "腾讯": 1}


def test_local_day_buckets(filled) -> None:
    _, store = filled
    now = datetime.now(UTC)
    df = analysis.tag_series(store, now - timedelta(days=7), now, "hour", TZ)
    utc_hours = analysis.tag_series(store, now - timedelta(days=7), now, "hour", "UTC")
    assert (df["bucket"] - utc_hours["bucket"]).dt.total_seconds().unique().tolist() == [8 * 3600]


@pytest.mark.parametrize(("bucket", "fmt"), [("hour", "%Y-%m-%d %H:00"), ("day", "%Y-%m-%d")])
def test_buckets_are_the_local_hours_and_days_of_the_stored_times(filled, bucket, fmt) -> None:
    _, store = filled
    now = datetime.now(UTC)
    with store.engine.connect() as conn:
        stored = conn.execute(select(matches.c.tag, matches.c.sort_time)).all()
    local = lambda t: t.astimezone(ZoneInfo(TZ)).strftime(fmt)  # noqa: E731
    expected = Counter((local(when), tag) for tag, when in stored)
    df = analysis.tag_series(store, now - timedelta(days=7), now, bucket, TZ)
    got = {(b.strftime(fmt), tag): n for b, tag, n in df.itertuples(index=False)}
    assert got == dict(expected) and sum(got.values()) == 3


def test_run_history_and_health_frame(filled) -> None:
    _, store = filled
    runs = analysis.run_history(store, datetime.now(UTC) - timedelta(days=1))
    assert len(runs) == 1 and runs["errors"][0] == 1 and runs["new_entries"][0] == 4
    assert runs["duration"][0] >= 0
    health = tables.health_frame(source_health(store, include_disabled=True), TZ, "zh")
    bad = health[health["name"] == "坏源"].iloc[0]
    assert bad["state"] == "error" and "HTTP 500" in bad["error"] and bad["failures"] == 1
    assert "失败" in bad["status"]
    styled = tables.health_style(health).to_html()
    assert "#fce8e6" in styled  # the failing row's status is coloured
    assert "state" not in tables.health_style(health).data.columns
