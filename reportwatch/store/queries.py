"""Read-only queries for the CLI and the dashboard. They fetch only what is shown."""

from __future__ import annotations

import heapq
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from reportwatch.store.core import Store
from reportwatch.store.schema import entries, matches, meta, poll_runs, sources

TEXT_FIELDS = frozenset({"title", "summary", "categories"})


def storable(values: Iterable[str]) -> list[str]:
    """The values a stored name or text can equal: none holds NUL (feed text is cleaned of
    control characters), PostgreSQL text cannot, and psycopg refuses it as a parameter."""
    return [value for value in values if "\x00" not in value]


@dataclass
class Copy:
    """One feed's copy of a story."""

    id: int
    source: str
    key: str
    title: str
    link: str | None
    published: datetime | None
    first_seen: datetime


@dataclass
class Item:
    """A story as the panel and `items` show it: its first-seen copy's fields, the union of its
    copies' tags, and the other copies (另见)."""

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
    story: int = 0
    others: list[Copy] = field(default_factory=list)  # the other copies, first seen first

    @property
    def sources(self) -> list[str]:
        """Every source carrying the story, first seen first."""
        return list(dict.fromkeys([self.source, *(c.source for c in self.others)]))

    @property
    def links(self) -> list[str]:
        """Every distinct link of the story's copies."""
        return [x for x in dict.fromkeys([self.link, *(c.link for c in self.others)]) if x]

    def as_dict(self) -> dict[str, object]:
        iso = lambda t: t.isoformat() if t else None  # noqa: E731
        return {
            "story": self.story,
            "source": self.source,
            "key": self.key,
            "title": self.title,
            "link": self.link,
            "published": iso(self.published),
            "first_seen": iso(self.first_seen),
            "tags": self.tags,
            "summary": self.summary,
            "sources": self.sources,
            "links": self.links,
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


STORY = func.coalesce(entries.c.story_id, entries.c.id)  # an entry not yet assigned: its own
MATCH_STORY = func.coalesce(matches.c.story_id, matches.c.entry_id)


def matched_items(
    store: Store,
    tags: Sequence[str] = (),
    since: datetime | None = None,
    limit: int | None = 50,
    offset: int = 0,
) -> list[Item]:
    """Matched stories newest first (published, else first seen), each once however many
    feeds carry it; any of `tags` when given; `since`: stories first seen at or after it."""
    ids = _top_stories(store, tags, since, limit, offset)
    return stories_by_id(store, ids)


def stories_by_id(store: Store, ids: Sequence[int]) -> list[Item]:
    """The stories `ids` (in that order) with all their copies and the union of their tags."""
    if not ids:
        return []
    wanted = list(ids)
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(entries, STORY.label("story"), sources.c.name.label("source_name"))
            .join(sources, sources.c.id == entries.c.source_id)
            .where(STORY.in_(wanted))
            .order_by(entries.c.first_seen, entries.c.id)
        ).all()
        tag_rows = conn.execute(
            select(MATCH_STORY, matches.c.tag, matches.c.hits, matches.c.score)
            .where(MATCH_STORY.in_(wanted))
            .order_by(matches.c.score.desc(), matches.c.tag)  # ties: as the explorer lists them
        ).all()
    tags_of: dict[int, list[str]] = defaultdict(list)
    words_of: dict[int, list[str]] = defaultdict(list)
    score_of: dict[int, float] = defaultdict(float)
    for story, tag, hits, score in tag_rows:
        if tag not in tags_of[story]:
            tags_of[story].append(tag)
            score_of[story] += score
        for keyword, where in json.loads(hits):
            # a model's score and an analyst's mark are not words of the text to highlight
            if where in TEXT_FIELDS and keyword not in words_of[story]:
                words_of[story].append(keyword)
    copies: dict[int, list[Any]] = defaultdict(list)
    for r in rows:
        copies[r.story].append(r)
    items = []
    for story in wanted:
        if not copies.get(story):
            continue
        first, *rest = copies[story]
        items.append(
            Item(
                id=first.id, source=first.source_name, key=first.key, title=first.title,
                summary=first.summary, link=first.link, published=first.published,
                first_seen=first.first_seen, sort_time=first.sort_time, tags=tags_of[story],
                keywords=words_of[story], score=score_of[story], story=story,
                others=[Copy(r.id, r.source_name, r.key, r.title, r.link, r.published,
                             r.first_seen) for r in rest],
            )
        )  # fmt: skip
    return items


def _top_stories(
    store: Store, tags: Sequence[str], since: datetime | None, limit: int | None, offset: int
) -> list[int]:
    """Newest stories having any of `tags` (any match when none): the top rows of each tag's
    (tag, sort_time) index, merged, each story once. The cost grows with the page, not with the
    number of matches: a story's copies are few, so reading twice the page is usually enough,
    and the read doubles until it is."""
    want = None if limit is None else offset + limit
    read = None if want is None else max(2 * want, 20)
    with store.engine.connect() as conn:
        while True:
            streams = []
            for tag in dict.fromkeys(tags) if tags else [None]:
                if tag is None and since is None:  # through the (matched, sort_time) index
                    query = (
                        select(entries.c.sort_time, STORY)
                        .where(entries.c.matched)
                        .order_by(entries.c.sort_time.desc(), entries.c.id.desc())
                    )
                else:
                    query = select(matches.c.sort_time, MATCH_STORY).order_by(
                        matches.c.sort_time.desc(), matches.c.entry_id.desc()
                    )
                    if tag is not None:
                        query = query.where(matches.c.tag == tag)
                    if since:
                        query = query.where(matches.c.first_seen >= since)
                if read is not None:
                    query = query.limit(read)
                streams.append([tuple(row) for row in conn.execute(query)])
            ordered = heapq.merge(*streams, reverse=True)
            unique = list(dict.fromkeys(story for _, story in ordered))
            full = read is not None and any(len(stream) == read for stream in streams)
            if want is None or len(unique) >= want or not full:
                return unique[offset:want]
            read *= 2


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
    """Stories per tag (a story's copies count once)."""
    query = select(matches.c.tag, func.count(func.distinct(MATCH_STORY))).group_by(matches.c.tag)
    if since is not None:
        query = query.where(matches.c.first_seen > since)
    with store.engine.connect() as conn:
        return {tag: n for tag, n in conn.execute(query)}


def count_new(store: Store, since: datetime, tags: Sequence[str] = ()) -> int:
    """Matched stories first seen after `since` (the viewer's baseline); a late copy of an older
    story is not new (its matches carry the story's first_seen).

    Reads the few rows after the baseline through the first_seen index and filters tags here:
    letting SQLite pick the tag index instead scans every match of those tags."""
    query = select(MATCH_STORY, matches.c.tag).where(matches.c.first_seen > since)
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
    """Matched stories published (else first seen) since `since`: in all, and per tag."""
    where = (matches.c.sort_time >= since, matches.c.tag.in_(list(tags)))
    with store.engine.connect() as conn:
        total = conn.execute(
            select(func.count(func.distinct(MATCH_STORY))).where(*where)
        ).scalar_one()
        rows = conn.execute(
            select(matches.c.tag, func.count(func.distinct(MATCH_STORY)))
            .where(*where)
            .group_by(matches.c.tag)
        )
        per_tag = {tag: n for tag, n in rows}
    return total, per_tag
