"""Aggregations for the trends and sources pages: SQL GROUP BY, never whole-table loads.

Buckets are local days or hours in the display timezone. The shift is the zone's current UTC
offset, a fixed offset over the range: exact for Asia/Shanghai (no DST), and at most an hour
off around DST changes elsewhere, which a trend chart can live with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import ColumnElement, func, select

from reportwatch.store.core import Store
from reportwatch.store.queries import MATCH_STORY, storable
from reportwatch.store.schema import entries, matches, poll_runs, sources

Bucket = Literal["day", "hour"]
RANGES = {"1d": 1, "7d": 7, "30d": 30, "90d": 90, "365d": 365}  # range key → days back


def range_start(key: str, now: datetime) -> datetime:
    return now - timedelta(days=RANGES.get(key, 7))


@dataclass(frozen=True)
class RangeHint:
    """Where the matches are when a range shows none: the newest one before now, and the
    smallest range that shows it (None when it is older than every range)."""

    newest: datetime
    range: str | None


def fitting_range(newest: datetime, now: datetime) -> str | None:
    """The smallest of RANGES whose window [now - days, now) holds `newest`."""
    for key, days in sorted(RANGES.items(), key=lambda item: item[1]):
        if now - timedelta(days=days) <= newest < now:
            return key
    return None


def range_hint(store: Store, now: datetime, tags: Sequence[str] = ()) -> RangeHint | None:
    """For a trends range with nothing in it: the newest match (of any of `tags`) before `now`
    and the range to offer. None when nothing was ever matched (before now)."""
    query = select(func.max(matches.c.sort_time)).where(matches.c.sort_time < now)
    if tags:
        query = query.where(matches.c.tag.in_(storable(tags)))
    with store.engine.connect() as conn:
        newest = conn.execute(query).scalar()
    return None if newest is None else RangeHint(newest, fitting_range(newest, now))


def offset_minutes(tz: str, now: datetime | None = None) -> int:
    offset = (now or datetime.now(UTC)).astimezone(ZoneInfo(tz)).utcoffset()
    return int(offset.total_seconds() // 60) if offset else 0


def _bucket(col: Any, bucket: Bucket, minutes: int, dialect: str) -> ColumnElement[str]:
    """A text key for the local day or hour of `col` (stored as naive UTC)."""
    if dialect == "postgresql":
        shifted = col + func.make_interval(0, 0, 0, 0, 0, minutes)
        return func.to_char(shifted, "YYYY-MM-DD" if bucket == "day" else "YYYY-MM-DD HH24:00")
    fmt = "%Y-%m-%d" if bucket == "day" else "%Y-%m-%d %H:00"
    return func.strftime(fmt, col, f"{minutes:+d} minutes")


def _frame(rows: Sequence[Any], name: str) -> pd.DataFrame:
    df = pd.DataFrame([tuple(r) for r in rows], columns=["bucket", name, "count"])
    df["bucket"] = pd.to_datetime(df["bucket"])
    df["count"] = df["count"].astype(int)
    return df


def tag_series(
    store: Store, start: datetime, end: datetime, bucket: Bucket, tz: str,
    tags: Sequence[str] = (),
) -> pd.DataFrame:  # fmt: skip
    """Matched stories per tag per bucket, by published time (else first seen): bucket, tag,
    count. A story's copies count once (in each bucket their times fall in)."""
    key = _bucket(matches.c.sort_time, bucket, offset_minutes(tz), store.engine.dialect.name)
    query = (
        select(key.label("b"), matches.c.tag, func.count(func.distinct(MATCH_STORY)))
        .where(matches.c.sort_time >= start, matches.c.sort_time < end)
        .group_by(key, matches.c.tag)
        .order_by(key, matches.c.tag)
    )
    if tags:
        query = query.where(matches.c.tag.in_(storable(tags)))
    with store.engine.connect() as conn:
        return _frame(conn.execute(query).all(), "tag")


def source_series(
    store: Store, start: datetime, end: datetime, bucket: Bucket, tz: str,
    tags: Sequence[str] = (),
) -> pd.DataFrame:  # fmt: skip
    """Matched entries per source per bucket: bucket, source, count."""
    key = _bucket(entries.c.sort_time, bucket, offset_minutes(tz), store.engine.dialect.name)
    query = (
        select(key.label("b"), sources.c.name, func.count(entries.c.id))
        .join(sources, sources.c.id == entries.c.source_id)
        .where(entries.c.matched, entries.c.sort_time >= start, entries.c.sort_time < end)
        .group_by(key, sources.c.name)
        .order_by(key, sources.c.name)
    )
    if tags:
        query = query.where(
            entries.c.id.in_(select(matches.c.entry_id).where(matches.c.tag.in_(storable(tags))))
        )
    with store.engine.connect() as conn:
        return _frame(conn.execute(query).all(), "source")


def totals(df: pd.DataFrame, name: str) -> dict[str, int]:
    """Counts per tag (or source) over the whole range, largest first."""
    if df.empty:
        return {}
    summed = df.groupby(name)["count"].sum().sort_values(ascending=False)
    return {str(k): int(v) for k, v in summed.items()}


def run_history(store: Store, since: datetime, limit: int = 2000) -> pd.DataFrame:
    """Finished poll cycles since `since`: started, duration (s), new_entries, errors, sources."""
    query = (
        select(poll_runs)
        .where(poll_runs.c.started >= since, poll_runs.c.finished.is_not(None))
        .order_by(poll_runs.c.started.desc())
        .limit(limit)
    )
    with store.engine.connect() as conn:
        found = conn.execute(query).all()
    data = [
        {
            "started": r.started,
            "duration": (r.finished - r.started).total_seconds(),
            "new_entries": r.new_entries,
            "errors": r.errors,
            "sources": r.sources,
            "trigger": r.trigger,
        }
        for r in reversed(found)
    ]
    cols = ["started", "duration", "new_entries", "errors", "sources", "trigger"]
    return pd.DataFrame(data, columns=cols)
