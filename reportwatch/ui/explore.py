"""The explorer's table and files: rows as the page shows them (local times, only http(s) links,
a "new" flag), one page at a time, and the whole view as CSV or JSON. The rows come from
store.explore; this is how they look."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from reportwatch.config.settings import LoadedConfig
from reportwatch.store.core import Store
from reportwatch.store.explore import PAGE_SIZE, Filters, count, rows
from reportwatch.ui.markdown import escape_markdown
from reportwatch.urls import is_web_url

log = logging.getLogger(__name__)

EXPORT_LIMIT = 10_000  # rows in one export; the caption says when a view is cut
COLUMNS = ["title", "link", "source", "also", "tags", "published", "first_seen", "new",
           "matched", "summary", "story"]  # fmt: skip


@dataclass
class Page:
    frame: pd.DataFrame
    total: int
    extra: dict[str, Any] = field(default_factory=dict)


def frame(found: Sequence[dict[str, Any]], baseline: datetime | None, tz: str) -> pd.DataFrame:
    """Rows as shown: local times, only http(s) links, a 'new' flag against the baseline.
    Text cells are never None; a link that is not shown, or no publication date, is missing
    (None/NaT: the table shows app.MISSING there)."""
    zone = ZoneInfo(tz)
    local = lambda t: t.astimezone(zone) if t else None  # noqa: E731
    data = [
        {
            "title": r["title"] or "",
            "link": r["link"] if is_web_url(r["link"]) else None,
            "source": r["source"] or "",
            "also": list(r.get("also", [])),  # the story's other sources (另见)
            "tags": list(r["tags"]),
            "published": local(r["published"]),
            "first_seen": local(r["first_seen"]),
            "new": bool(baseline and r["first_seen"] > baseline),
            "matched": bool(r["matched"]),
            "summary": r["summary"] or "",
            "story": r.get("story", r.get("id")),
        }
        for r in found
    ]
    result = pd.DataFrame(data, columns=COLUMNS)
    for name in ("published", "first_seen"):  # a datetime dtype even on an empty page
        result[name] = pd.to_datetime(result[name], utc=True).dt.tz_convert(zone)
    return result


def page(
    store: Store, f: Filters, baseline: datetime | None, tz: str, sort: str, number: int,
    size: int = PAGE_SIZE,
) -> Page:  # fmt: skip
    total = count(store, f)
    pages = max(1, -(-total // size))
    number = min(max(1, number), pages)
    found = rows(store, f, sort, size, (number - 1) * size)
    return Page(frame(found, baseline, tz), total, {"pages": pages, "number": number})


def export_frame(
    store: Store, f: Filters, baseline: datetime | None, tz: str, sort: str,
    limit: int = EXPORT_LIMIT,
) -> pd.DataFrame:  # fmt: skip
    """The whole filtered view (up to `limit` rows), read in pages."""
    parts, offset, batch = [], 0, 1000
    while offset < limit:
        found = rows(store, f, sort, min(batch, limit - offset), offset)
        if not found:
            break
        parts.append(frame(found, baseline, tz))
        offset += len(found)
    return pd.concat(parts, ignore_index=True) if parts else frame([], baseline, tz)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """Plain values for files; feed text that a spreadsheet would run as a formula is quoted."""
    if isinstance(value, list):
        value = "; ".join(value)
    if isinstance(value, pd.Timestamp | datetime):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else value


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """UTF-8 with a BOM, so Excel and Numbers open the Chinese text correctly."""
    plain = df.astype(object).map(_cell)
    return plain.to_csv(index=False).encode("utf-8-sig")


def to_json_bytes(df: pd.DataFrame) -> bytes:
    records = []
    for row in df.to_dict(orient="records"):
        item = {}
        for key, value in row.items():
            if isinstance(value, pd.Timestamp | datetime):
                value = None if pd.isna(value) else value.isoformat()
            elif value is not None and not isinstance(value, list | str | bool) and pd.isna(value):
                value = None
            item[key] = value
        records.append(item)
    return json.dumps(records, ensure_ascii=False, indent=1).encode("utf-8")


def current_page(store: Store, f: Filters, baseline: datetime | None, tz: str, sort: str) -> Page:
    """The page of the view the viewer is on (`ex_page`, set by st.pagination): a new filter
    or sort starts at page 1, and a view that shrank below that page starts over."""
    import streamlit as st

    state = st.session_state
    if state.get("_ex_filters") != (f, sort):
        state["_ex_filters"] = (f, sort)
        state.pop("ex_page", None)
    result = page(store, f, baseline, tz, sort, state.get("ex_page", 1))
    if state.get("ex_page", 1) != result.extra["number"]:
        state.pop("ex_page", None)
        result = page(store, f, baseline, tz, sort, 1)
    return result


def selected_story(loaded: LoadedConfig, store: Store, row: Any, watched: Sequence[str],
                   lang: str) -> None:  # fmt: skip
    """Below the table: the selected row's story, why it has its tags, and the feedback."""
    from reportwatch.store.errors import StoreError
    from reportwatch.ui.feedback import (
        feedback_controls,
        relevance_matcher,
        show_flash,
        verdicts_for,
        why_popover,
    )
    from reportwatch.ui.i18n import t

    show_flash()
    story = int(row["story"]) if row.get("story") else 0
    try:
        text = store.story_text(story) if story else None
        verdicts = verdicts_for(store, [story]) if text else {}
    except StoreError as exc:
        st.error(f"{t('store_error', lang)} {escape_markdown(str(exc))}")
        return
    if text is None:
        return
    title, summary, _ = text
    tags = [str(tag) for tag in (row.get("tags") or [])]
    try:
        matcher = relevance_matcher(loaded, store)
    except Exception:  # the row shows without "why"; logged
        log.exception("loading the relevance models failed")
        matcher = None
    with st.container(border=True):
        st.markdown(f"**{escape_markdown(title)}**")
        with st.container(horizontal=True):
            why_popover(matcher, story, title, summary, verdicts, lang, key="explorer")
            feedback_controls(loaded, store, story, tags, list(watched), verdicts, lang,
                              key="explorer")  # fmt: skip
