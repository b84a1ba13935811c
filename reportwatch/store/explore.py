"""Queries behind the explorer page: filtered, searched, paged entries.

Search uses the FTS5 trigram index (schema v2) for terms of 3+ characters, which finds Chinese
substrings without word segmentation; shorter terms, PostgreSQL and SQLite builds without FTS5
use LIKE. Rows stored since the last index catch-up (schema v3's queue) are searched with LIKE,
so results are complete without the UI writing anything. Only one page of rows is read at a time.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    column,
    false,
    func,
    or_,
    select,
    table,
    true,
    union_all,
)

from reportwatch.store.core import Store
from reportwatch.store.queries import STORY, storable
from reportwatch.store.schema import entries, matches, sources

PAGE_SIZE = 50
MAX_TERMS = 8
SORTS: dict[str, tuple[Any, ...]] = {
    "newest": (entries.c.sort_time.desc(), entries.c.id.desc()),
    "oldest": (entries.c.sort_time.asc(), entries.c.id.asc()),
    "first_seen": (entries.c.first_seen.desc(), entries.c.id.desc()),
    "title": (entries.c.title.asc(), entries.c.id.asc()),
    "source": (sources.c.name.asc(), entries.c.sort_time.desc(), entries.c.id.desc()),
}
_fts = table("entries_fts", column("rowid"), column("entries_fts"))
_pending = table("entries_fts_pending", column("id"))  # rows not indexed yet (schema v3)


@dataclass(frozen=True)
class Filters:
    text: str = ""
    tags: tuple[str, ...] = ()  # any of these
    sources: tuple[str, ...] = ()  # source names, any of these
    start: datetime | None = None  # sort_time (published, else first seen) ≥ start, UTC
    end: datetime | None = None  # sort_time < end
    matched_only: bool = True
    copies: bool = False  # one row a copy instead of one a story
    new_since: datetime | None = None  # only entries first seen after the viewer's baseline


# The days a date filter can name. Outside them a day is out of range and means no bound (a
# date so far off would overflow datetime once moved to UTC or a day on: 0001-01-01, 9999-12-31).
DAY_MIN, DAY_MAX = date(1970, 1, 1), date(2999, 12, 31)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def _in_range(day: date | None) -> date | None:
    return day if day is not None and DAY_MIN <= day <= DAY_MAX else None


def day_bounds(first: date | None, last: date | None, tz: str) -> tuple[datetime | None, ...]:
    """Local calendar days [first, last] as a UTC half-open interval; a day out of range
    (before DAY_MIN, after DAY_MAX) is no bound."""
    zone = ZoneInfo(tz)
    first, last = _in_range(first), _in_range(last)
    start = datetime.combine(first, time.min, zone) if first else None
    end = datetime.combine(last + timedelta(days=1), time.min, zone) if last else None
    return start, end


def parse_day(value: str | None) -> date | None:
    """A day from the URL, as YYYY-MM-DD (ASCII digits, a real date, DAY_MIN..DAY_MAX); any
    other value is None, as if absent."""
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        return None
    try:
        return _in_range(date.fromisoformat(value))
    except ValueError:
        return None


def has_fts(conn: Connection) -> bool:
    if conn.dialect.name != "sqlite":
        return False
    found = conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entries_fts'"
    ).first()
    return found is not None


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _contains(rows: FromClause, term: str) -> ColumnElement[bool]:
    pattern = _like(term)
    return or_(rows.c.title.ilike(pattern, escape="\\"), rows.c.summary.ilike(pattern, escape="\\"))


def text_conditions(conn: Connection, text: str) -> list[ColumnElement[bool]]:
    """Every whitespace-separated term must occur in the title or the summary."""
    terms = list(dict.fromkeys(text.split()))[:MAX_TERMS]
    fts = has_fts(conn) if terms else False
    conditions: list[ColumnElement[bool]] = []
    for term in terms:
        if not storable([term]):  # no stored text holds NUL; FTS5 and PostgreSQL refuse it
            conditions.append(false())
        elif fts and len(term) >= 3:  # trigram needs three characters to look anything up
            phrase = '"' + term.replace('"', '""') + '"'  # a phrase: no FTS5 query syntax
            hits = select(_fts.c.rowid).where(_fts.c.entries_fts.op("MATCH")(phrase))
            # One IN list (indexed hits, then queued rows by LIKE) keeps the rowid lookup.
            queued = entries.alias("queued")
            waiting = select(queued.c.id).where(
                queued.c.id.in_(select(_pending.c.id)), _contains(queued, term)
            )
            conditions.append(entries.c.id.in_(union_all(hits, waiting)))
        else:
            conditions.append(_contains(entries, term))
    return conditions


def conditions(conn: Connection, f: Filters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [true()]
    if f.matched_only or f.tags:
        where.append(entries.c.matched)
    if f.tags:
        tagged = select(matches.c.entry_id).where(matches.c.tag.in_(storable(f.tags)))
        where.append(entries.c.id.in_(tagged))
    if f.sources:
        named = select(sources.c.id).where(sources.c.name.in_(storable(f.sources)))
        where.append(entries.c.source_id.in_(named))
    if f.start is not None:
        where.append(entries.c.sort_time >= f.start)
    if f.end is not None:
        where.append(entries.c.sort_time < f.end)
    if f.new_since is not None:
        where.append(entries.c.first_seen > f.new_since)
        if not f.copies:  # a story is new when its first copy is: a late copy is not
            other = entries.alias("other")
            earlier = select(other.c.id).where(
                func.coalesce(other.c.story_id, other.c.id) == STORY,
                other.c.first_seen <= f.new_since,
            )
            where.append(~earlier.exists())
    return where + text_conditions(conn, f.text)


def count(store: Store, f: Filters) -> int:
    """Stories (or with f.copies, entries) in the view."""
    what = func.count() if f.copies else func.count(func.distinct(STORY))
    with store.engine.connect() as conn:
        query = select(what).select_from(entries).where(*conditions(conn, f))
        return conn.execute(query).scalar_one()


def rows(
    store: Store, f: Filters, sort: str = "newest", limit: int = PAGE_SIZE, offset: int = 0
) -> list[dict[str, Any]]:
    """One page of the view with source names and tags: a row a story (its first copy in the
    view, with `copies`, the story's first_seen and `also`: the other copies' sources), or
    with f.copies a row an entry (`story` says which story it belongs to)."""
    order = SORTS.get(sort, SORTS["newest"])
    with store.engine.connect() as conn:
        where = conditions(conn, f)
        if not f.copies:  # one row a story: its earliest copy among those in the view
            first = select(func.min(entries.c.id)).where(*where).group_by(STORY)
            where = [entries.c.id.in_(first)]
        query = (
            select(
                entries.c.id,
                entries.c.title,
                entries.c.link,
                sources.c.name.label("source"),
                entries.c.published,
                entries.c.first_seen,
                entries.c.matched,
                entries.c.summary,
                STORY.label("story"),
            )  # fmt: skip
            .join(sources, sources.c.id == entries.c.source_id)
            .where(*where)
            .order_by(*order)
            .limit(limit)
            .offset(offset)
        )
        found = [dict(r._mapping) for r in conn.execute(query)]
        ids = [r["id"] for r in found]
        tags: dict[int, list[str]] = defaultdict(list)
        if ids:
            tag_query = (
                select(matches.c.entry_id, matches.c.tag)
                .where(matches.c.entry_id.in_(ids))
                .order_by(matches.c.score.desc(), matches.c.tag)
            )
            for entry_id, tag in conn.execute(tag_query):
                tags[entry_id].append(tag)
        copies = _copies(conn, [r["story"] for r in found]) if found else {}
    for r in found:
        r["tags"] = tags[r["id"]]
        mine = copies.get(r["story"], [])
        r["copies"] = len(mine) or 1
        r["also"] = list(dict.fromkeys(name for i, name, _ in mine if i != r["id"]))
        if not f.copies and mine:
            r["first_seen"] = min(seen for _, _, seen in mine)
    return found


def _copies(conn: Connection, stories: list[int]) -> dict[int, list[tuple[int, str, Any]]]:
    """story → its copies (entry id, source name, first_seen), first seen first."""
    query = (
        select(STORY.label("story"), entries.c.id, sources.c.name, entries.c.first_seen)
        .join(sources, sources.c.id == entries.c.source_id)
        .where(STORY.in_(stories))
        .order_by(entries.c.first_seen, entries.c.id)
    )
    out: dict[int, list[tuple[int, str, Any]]] = defaultdict(list)
    for story, entry_id, name, seen in conn.execute(query):
        out[story].append((entry_id, name, seen))
    return out


def source_names(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(sources.c.name).order_by(sources.c.name)).scalars())
