"""One source's entries, matches and fetch state, written inside the caller's transaction.

A cold cycle stores thousands of entries in the main process while the parse workers need
both cores, so every CPU second here slows the cycle. On SQLite the statements therefore go
straight to the driver (exec_driver_sql), with each datetime turned into its stored text once
per distinct value: SQLAlchemy's per-statement compile/cache-key work and per-value type
processing cost more than SQLite's own work. Other databases (PostgreSQL) use Core statements
built once at import, so SQLAlchemy memoises their cache keys.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, delete, func, select, update

from reportwatch.models import Entry
from reportwatch.store.feedback import apply_for_entries
from reportwatch.store.outbox import ChannelPlan, enqueue
from reportwatch.store.schema import entries, matches, sources
from reportwatch.store.stories import NewCopy, StoriesLike, assign, sync_matches

CHUNK = 500  # keys per IN list (SQLite builds before 3.32 allow 999 variables)
DRIVER_SQL_DIALECTS = {"sqlite"}  # the rest take the Core path (tests empty this to run it)


class HitLike(Protocol):
    keyword: str
    field: str


class TagMatchLike(Protocol):
    tag: str
    score: float
    hits: Sequence[HitLike]


class MatcherLike(Protocol):
    fingerprint: str

    def match(
        self, title: str, summary: str = "", categories: Sequence[str] = ()
    ) -> list[TagMatchLike]: ...


class SqliteText:
    """datetime → the naive-UTC text SQLAlchemy's SQLite DATETIME stores (so reads parse it
    back as usual), computed once per distinct value: a source's rows share `now`, and many
    share a published time."""

    def __init__(self) -> None:
        self._texts: dict[datetime, str] = {}

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, datetime):
            return value  # None, or text read back from the database
        text = self._texts.get(value)
        if text is None:
            text = value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
            self._texts[value] = text
        return text


def hits_json(m: TagMatchLike) -> str:
    return json.dumps([[h.keyword, h.field] for h in m.hits], ensure_ascii=False)


def match_row(
    entry_id: int, m: TagMatchLike, sort_time: datetime, first_seen: datetime
) -> dict[str, Any]:
    return {"entry_id": entry_id, "tag": m.tag, "score": m.score, "hits": hits_json(m),
            "sort_time": sort_time, "first_seen": first_seen}  # fmt: skip


Existing = tuple[int, str, str, Any]  # id, title, summary, first_seen of a stored entry
Changed = tuple[int, Entry, list[TagMatchLike], Any]  # id, new entry, its matches, first_seen


@dataclass
class Plan:
    """What one source's fetched entries change. `first_seen` values are what the database
    returned (datetimes through Core, stored text through the driver) or `now`."""

    new: list[tuple[Entry, list[TagMatchLike]]] = field(default_factory=list)
    changed: list[Changed] = field(default_factory=list)


def plan(existing: dict[str, Existing], items: Sequence[Entry],
         matcher: MatcherLike) -> Plan:  # fmt: skip
    """New and changed entries (an unchanged one keeps its row, first_seen and matches)."""
    result = Plan()
    for entry in items:
        old = existing.get(entry.key)
        if old is None:
            result.new.append((entry, matcher.match(entry.title, entry.summary, entry.categories)))
        elif old[1] != entry.title or old[2] != entry.summary:
            found = matcher.match(entry.title, entry.summary, entry.categories)
            result.changed.append((old[0], entry, found, old[3]))
    return result


class _Solo:
    """Stories without keys or an index: every entry is a story of its own."""

    def keys(self, entry: Entry) -> list[str]:
        return []

    def near(self, entry: Entry, when: datetime, source_id: int) -> int | None:
        return None

    def added(self, story_id: int, entry: Entry, when: datetime, source_id: int) -> None:
        pass


def store_source(
    conn: Connection,
    source_id: int,
    items: Sequence[Entry],
    matcher: MatcherLike,
    now: datetime,
    state: dict[str, Any],
    stories: StoriesLike | None = None,
    plans: Sequence[ChannelPlan] = (),
) -> int:
    """Insert new entries (each joins its story), update changed ones, replace their matches,
    put stories new to an alert channel (`plans`) in its outbox, and set the source's fetch
    state (`state`: column → value; the entry count is recounted when rows were added).
    Returns how many entries were new."""
    driver = conn.dialect.name in DRIVER_SQL_DIALECTS
    write = _SqliteWriter(conn) if driver else _CoreWriter(conn)
    todo = (
        plan(write.existing(source_id, [e.key for e in items]), items, matcher) if items else Plan()
    )
    touched: list[int] = []
    entered: list[int] = []  # new and changed entries: their stories may be news to a channel
    if todo.new:
        write.insert(source_id, todo.new, now)
        ids = write.ids(source_id, [entry.key for entry, _ in todo.new])
        copies = [NewCopy(ids[e.key], e, e.published or now, source_id) for e, _ in todo.new]
        story_of = assign(conn, copies, stories or _Solo())
        # Only a copy that joined an existing story can meet a verdict: a story that starts
        # now has none yet (skipping the lookup keeps a cold cycle's 9,000 new stories cheap).
        touched += [entry for entry, story in story_of.items() if entry != story]
        entered += story_of.values()
    if todo.changed:
        write.update(todo.changed, now)
        sync_matches(conn, [c[0] for c in todo.changed])  # their story's first_seen again
        touched += [c[0] for c in todo.changed]
    if touched:  # an analyst's verdict on a story holds for its new and changed copies too
        apply_for_entries(conn, touched)
    if plans and (entered or todo.changed):  # alerts: in the transaction that tags the story
        changed = [c[0] for c in todo.changed]
        enqueue(conn, plans, now, [*entered, *stories_of(conn, changed)])
    write.source(source_id, state, recount=bool(todo.new))
    return len(todo.new)


def _columns(entry: Entry, found: list[TagMatchLike], first_seen: Any) -> dict[str, Any]:
    return {"title": entry.title, "summary": entry.summary, "link": entry.link,
            "published": entry.published, "sort_time": entry.published or first_seen,
            "authors": "\n".join(entry.authors), "categories": "\n".join(entry.categories),
            "matched": bool(found)}  # fmt: skip


_ENTRY_COLUMNS = ("source_id", "key", "first_seen", "updated_at", "title", "summary", "link",
                  "published", "sort_time", "authors", "categories", "matched")  # fmt: skip
_SET = ("title", "summary", "link", "published", "sort_time", "authors", "categories", "matched")
_SQL_INSERT_ENTRY = (
    f"INSERT INTO entries ({', '.join(_ENTRY_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_ENTRY_COLUMNS))})"
)
_SQL_UPDATE_ENTRY = f"UPDATE entries SET updated_at = ?, {' = ?, '.join(_SET)} = ? WHERE id = ?"
# The entry's id is looked up by (source, key) in the insert itself: no read-back of new ids.
_SQL_INSERT_MATCH = (
    "INSERT INTO matches (entry_id, tag, score, hits, sort_time, first_seen) "
    "SELECT id, ?, ?, ?, ?, ? FROM entries WHERE source_id = ? AND key = ?"
)
_SQL_COUNT = "(SELECT count(*) FROM entries WHERE source_id = ?)"


def stories_of(conn: Connection, entry_ids: Sequence[int]) -> list[int]:
    out: list[int] = []
    for start in range(0, len(entry_ids), CHUNK):
        chunk = list(entry_ids[start : start + CHUNK])
        query = select(entries.c.story_id).where(entries.c.id.in_(chunk))
        out += [r[0] for r in conn.execute(query) if r[0] is not None]
    return out


class _SqliteWriter:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.text = SqliteText()
        self.hits: dict[tuple[tuple[str, str], ...], str] = {}

    def _by_key(self, columns: str, source_id: int, keys: list[str]) -> list[Any]:
        """Rows (key first) of this source's entries with these keys, a chunk per statement."""
        rows: list[Any] = []
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start : start + CHUNK]
            sql = (
                f"SELECT key, {columns} FROM entries "
                f"WHERE source_id = ? AND key IN ({', '.join('?' * len(chunk))})"
            )
            rows += self.conn.exec_driver_sql(sql, (source_id, *chunk)).all()
        return rows

    def existing(self, source_id: int, keys: list[str]) -> dict[str, Existing]:
        rows = self._by_key("id, title, summary, first_seen", source_id, keys)
        return {key: (i, title, summary, seen) for key, i, title, summary, seen in rows}

    def ids(self, source_id: int, keys: list[str]) -> dict[str, int]:
        return dict(self._by_key("id", source_id, keys))

    def _row(self, entry: Entry, found: list[TagMatchLike], first_seen: Any) -> list[Any]:
        t = self.text
        sort_time = t(entry.published or first_seen)
        authors, categories = "\n".join(entry.authors), "\n".join(entry.categories)
        return [entry.title, entry.summary, entry.link, t(entry.published), sort_time,
                authors, categories, int(bool(found))]  # fmt: skip

    def _matches(self, found: list[TagMatchLike], sort_time: str,
                 first_seen: str) -> list[tuple[Any, ...]]:  # fmt: skip
        rows = []
        for m in found:
            hit_key = tuple((h.keyword, h.field) for h in m.hits)
            if (text := self.hits.get(hit_key)) is None:  # many entries share their hits
                text = self.hits[hit_key] = hits_json(m)
            rows.append((m.tag, m.score, text, sort_time, first_seen))
        return rows

    def insert(self, source_id: int, new: list[tuple[Entry, list[TagMatchLike]]],
               now: datetime) -> None:  # fmt: skip
        stamp = self.text(now)
        rows, match_rows = [], []
        for entry, found in new:
            row = self._row(entry, found, stamp)
            rows.append((source_id, entry.key, stamp, stamp, *row))
            match_rows += [(*m, source_id, entry.key) for m in self._matches(found, row[4], stamp)]
        self.conn.exec_driver_sql(_SQL_INSERT_ENTRY, rows)
        if match_rows:
            self.conn.exec_driver_sql(_SQL_INSERT_MATCH, match_rows)

    def update(self, changed: list[Changed], now: datetime) -> None:
        stamp = self.text(now)
        rows, match_rows = [], []
        for entry_id, entry, found, first_seen in changed:
            first_seen = self.text(first_seen)
            row = self._row(entry, found, first_seen)
            rows.append((stamp, *row, entry_id))
            match_rows += [(entry_id, *m) for m in self._matches(found, row[4], first_seen)]
        self.conn.exec_driver_sql(_SQL_UPDATE_ENTRY, rows)
        ids = [c[0] for c in changed]
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            marks = ", ".join("?" * len(chunk))
            self.conn.exec_driver_sql(
                f"DELETE FROM matches WHERE entry_id IN ({marks})", tuple(chunk)
            )
        if match_rows:
            self.conn.exec_driver_sql(
                "INSERT INTO matches (entry_id, tag, score, hits, sort_time, first_seen) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                match_rows,
            )

    def source(self, source_id: int, state: dict[str, Any], recount: bool) -> None:
        sets = [f"{column} = ?" for column in state] + ([f"entries = {_SQL_COUNT}"] * recount)
        params = [self.text(v) for v in state.values()] + [source_id] * recount
        self.conn.exec_driver_sql(
            f"UPDATE sources SET {', '.join(sets)} WHERE id = ?", (*params, source_id)
        )


# Core statements, built once: SQLAlchemy memoises the cache key of a reused statement object.
_EXISTING = select(
    entries.c.key, entries.c.id, entries.c.title, entries.c.summary, entries.c.first_seen
).where(
    entries.c.source_id == bindparam("sid"), entries.c.key.in_(bindparam("keys", expanding=True))
)
_IDS = select(entries.c.key, entries.c.id).where(
    entries.c.source_id == bindparam("sid"), entries.c.key.in_(bindparam("keys", expanding=True))
)
_INSERT_ENTRY = entries.insert()
_UPDATE_ENTRY = update(entries).where(entries.c.id == bindparam("b_id"))
_DELETE_MATCHES = delete(matches).where(matches.c.entry_id.in_(bindparam("ids", expanding=True)))
_INSERT_MATCH = matches.insert()
_COUNT = select(func.count()).where(entries.c.source_id == sources.c.id).scalar_subquery()
_UPDATE_SOURCE = update(sources).where(sources.c.id == bindparam("b_sid"))
_UPDATE_SOURCE_COUNTED = _UPDATE_SOURCE.values(entries=_COUNT)


class _CoreWriter:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _chunks(self, statement: Any, source_id: int, keys: list[str]) -> list[Any]:
        rows: list[Any] = []
        for start in range(0, len(keys), CHUNK):
            params = {"sid": source_id, "keys": keys[start : start + CHUNK]}
            rows += self.conn.execute(statement, params).all()
        return rows

    def existing(self, source_id: int, keys: list[str]) -> dict[str, Existing]:
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in self._chunks(_EXISTING, source_id, keys)}

    def ids(self, source_id: int, keys: list[str]) -> dict[str, int]:
        return {r[0]: r[1] for r in self._chunks(_IDS, source_id, keys)}

    def insert(self, source_id: int, new: list[tuple[Entry, list[TagMatchLike]]],
               now: datetime) -> None:  # fmt: skip
        rows = [{"source_id": source_id, "key": entry.key, "first_seen": now, "updated_at": now,
                 **_columns(entry, found, now)} for entry, found in new]  # fmt: skip
        self.conn.execute(_INSERT_ENTRY, rows)
        wanted = [entry.key for entry, found in new if found]
        ids = dict(self._chunks(_IDS, source_id, wanted)) if wanted else {}
        match_rows = [
            match_row(ids[entry.key], m, entry.published or now, now)
            for entry, found in new
            for m in found
        ]
        if match_rows:
            self.conn.execute(_INSERT_MATCH, match_rows)

    def update(self, changed: list[Changed], now: datetime) -> None:
        rows = [{"b_id": entry_id, "updated_at": now, **_columns(entry, found, first_seen)}
                for entry_id, entry, found, first_seen in changed]  # fmt: skip
        self.conn.execute(_UPDATE_ENTRY, rows)
        self.conn.execute(_DELETE_MATCHES, {"ids": [c[0] for c in changed]})
        match_rows = [
            match_row(entry_id, m, entry.published or first_seen, first_seen)
            for entry_id, entry, found, first_seen in changed
            for m in found
        ]
        if match_rows:
            self.conn.execute(_INSERT_MATCH, match_rows)

    def source(self, source_id: int, state: dict[str, Any], recount: bool) -> None:
        statement = _UPDATE_SOURCE_COUNTED if recount else _UPDATE_SOURCE
        self.conn.execute(statement, {"b_sid": source_id, **state})
