"""Read-only queries for the CLI and the dashboard. They fetch only what is shown."""

from __future__ import annotations

import heapq
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from reportwatch.store.core import Store
from reportwatch.store.schema import entries, matches, meta, poll_runs, sources


def storable(values: Iterable[str]) -> list[str]:
    """The values a stored name or text can equal: none holds NUL (feed text is cleaned of
    control characters), PostgreSQL text cannot, and psycopg refuses it as a parameter."""
    return [value for value in values if "\x00" not in value]


@dataclass
class Item:
    id: int
    source: str
    key: str
    title: str
    summary: str
    link: str | None
    published: datetime | None
    first_seen: datetime
    sort_time: datetime
    tags: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)  # matched keywords, for highlighting
    score: float = 0.0

    def as_dict(self) -> dict[str, object]:
        iso = lambda t: t.isoformat() if t else None  # noqa: E731
        return {
            "source": self.source,
            "key": self.key,
            "title": self.title,
            "link": self.link,
            "published": iso(self.published),
            "first_seen": iso(self.first_seen),
            "tags": self.tags,
            "summary": self.summary,
        }


@dataclass
class SourceHealth:
    name: str
    url: str
    enabled: bool
    status: str | None
    last_checked: datetime | None
    last_ok: datetime | None
    error: str | None
    entries: int
    failures: int
    next_due: datetime | None
    latency: float | None
    bytes: int | None
    moved_to: str | None

    def as_dict(self) -> dict[str, object]:
        iso = lambda t: t.isoformat() if t else None  # noqa: E731
        return {
            "name": self.name,
            "url": self.url,
            "enabled": self.enabled,
            "status": self.status or "never_checked",
            "last_checked": iso(self.last_checked),
            "last_ok": iso(self.last_ok),
            "error": self.error,
            "entries": self.entries,
            "failures": self.failures,
            "next_due": iso(self.next_due),
            "latency": self.latency,
            "bytes": self.bytes,
            "moved_to": self.moved_to,
        }


def matched_items(
    store: Store,
    tags: Sequence[str] = (),
    since: datetime | None = None,
    limit: int | None = 50,
    offset: int = 0,
) -> list[Item]:
    """Matched entries newest first (published, else first seen); any of `tags` when given."""
    if tags:
        ids = _top_ids_for_tags(store, tags, since, limit, offset)
    else:
        ids_q = (
            select(entries.c.id)
            .where(entries.c.matched)
            .order_by(entries.c.sort_time.desc(), entries.c.id.desc())
        )
        if since:
            ids_q = ids_q.where(entries.c.first_seen >= since)
        if limit is not None:
            ids_q = ids_q.limit(limit).offset(offset)
        with store.engine.connect() as conn:
            ids = [row[0] for row in conn.execute(ids_q)]
    if not ids:
        return []
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(entries, sources.c.name.label("source_name"))
            .join(sources, sources.c.id == entries.c.source_id)
            .where(entries.c.id.in_(ids))
        ).all()
        tag_rows = conn.execute(
            select(matches.c.entry_id, matches.c.tag, matches.c.hits, matches.c.score)
            .where(matches.c.entry_id.in_(ids))
            .order_by(matches.c.score.desc(), matches.c.tag)  # ties: as the explorer lists them
        ).all()
    tags_of: dict[int, list[str]] = defaultdict(list)
    words_of: dict[int, list[str]] = defaultdict(list)
    score_of: dict[int, float] = defaultdict(float)
    for entry_id, tag, hits, score in tag_rows:
        tags_of[entry_id].append(tag)
        score_of[entry_id] += score
        for keyword, _field in json.loads(hits):
            if keyword not in words_of[entry_id]:
                words_of[entry_id].append(keyword)
    by_id = {r.id: r for r in rows}
    return [
        Item(
            id=r.id,
            source=r.source_name,
            key=r.key,
            title=r.title,
            summary=r.summary,
            link=r.link,
            published=r.published,
            first_seen=r.first_seen,
            sort_time=r.sort_time,
            tags=tags_of[r.id],
            keywords=words_of[r.id],
            score=score_of[r.id],
        )
        for r in (by_id[i] for i in ids if i in by_id)
    ]


def _top_ids_for_tags(
    store: Store, tags: Sequence[str], since: datetime | None, limit: int | None, offset: int
) -> list[int]:
    """Newest entries having any of `tags`: the top rows of each tag's (tag, sort_time) index,
    merged, so the cost grows with the page, not with the number of matches."""
    want = None if limit is None else offset + limit
    streams = []
    with store.engine.connect() as conn:
        for tag in dict.fromkeys(tags):
            query = (
                select(matches.c.sort_time, matches.c.entry_id)
                .where(matches.c.tag == tag)
                .order_by(matches.c.sort_time.desc(), matches.c.entry_id.desc())
            )
            if since:
                query = query.where(matches.c.first_seen >= since)
            if want is not None:
                query = query.limit(want)
            streams.append([tuple(row) for row in conn.execute(query)])
    ordered = heapq.merge(*streams, reverse=True)
    unique = list(dict.fromkeys(entry_id for _, entry_id in ordered))
    return unique[offset:want]


def source_health(store: Store, include_disabled: bool = False) -> list[SourceHealth]:
    query = select(sources).order_by(sources.c.id)
    if not include_disabled:
        query = query.where(sources.c.enabled)
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        SourceHealth(
            r.name,
            r.url,
            r.enabled,
            r.status,
            r.last_checked,
            r.last_ok,
            r.error,
            r.entries,
            r.failures,
            r.next_due,
            r.latency,
            r.bytes,
            r.moved_to,
        )  # fmt: skip
        for r in rows
    ]


def tag_counts(store: Store, since: datetime | None = None) -> dict[str, int]:
    query = select(matches.c.tag, func.count()).group_by(matches.c.tag)
    if since is not None:
        query = query.where(matches.c.first_seen > since)
    with store.engine.connect() as conn:
        return {tag: n for tag, n in conn.execute(query)}


def count_new(store: Store, since: datetime, tags: Sequence[str] = ()) -> int:
    """Matched entries first seen after `since` (the viewer's baseline).

    Reads the few rows after the baseline through the first_seen index and filters tags here:
    letting SQLite pick the tag index instead scans every match of those tags."""
    query = select(matches.c.entry_id, matches.c.tag).where(matches.c.first_seen > since)
    wanted = set(tags)
    with store.engine.connect() as conn:
        return len({e for e, tag in conn.execute(query) if not wanted or tag in wanted})


def last_success(store: Store) -> datetime | None:
    """Time of the last successful fetch of any source (what 最后更新 shows)."""
    with store.engine.connect() as conn:
        return conn.execute(select(func.max(sources.c.last_ok)).where(sources.c.enabled)).scalar()


def next_due(store: Store) -> datetime | None:
    with store.engine.connect() as conn:
        return conn.execute(select(func.min(sources.c.next_due)).where(sources.c.enabled)).scalar()


def recent_runs(store: Store, limit: int = 200) -> list[dict[str, object]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(poll_runs).order_by(poll_runs.c.started.desc()).limit(limit)
        ).all()
    return [dict(r._mapping) for r in rows]


def data_version(store: Store) -> tuple[object, ...]:
    """Changes whenever a poll cycle finishes (or rules are re-applied): a cache key for counts."""
    with store.engine.connect() as conn:
        run = conn.execute(select(func.max(poll_runs.c.id), func.max(poll_runs.c.finished))).one()
        rules = conn.execute(select(meta.c.value).where(meta.c.key == "rules_fingerprint")).scalar()
    return (*run, rules)


def fresh_counts(store: Store, since: datetime, tags: Sequence[str]) -> tuple[int, dict[str, int]]:
    """Matched entries published (else first seen) since `since`: in all, and per tag."""
    where = (matches.c.sort_time >= since, matches.c.tag.in_(list(tags)))
    with store.engine.connect() as conn:
        total = conn.execute(
            select(func.count(func.distinct(matches.c.entry_id))).where(*where)
        ).scalar_one()
        rows = conn.execute(
            select(matches.c.tag, func.count()).where(*where).group_by(matches.c.tag)
        )
        per_tag = {tag: n for tag, n in rows}
    return total, per_tag
