"""Stories: one story per news item however many feeds carry it.

An entry joins a story, inside the transaction that stores it, when it shares an exact key with
one (the same link key, the same guid, or the same normalised title within TITLE_WINDOW), else
when the poller's near-duplicate index finds the same event under another headline; otherwise
it starts a story of its own, whose id is the entry's id. Keys live in `story_keys`, whose
primary key makes several pollers agree: a key another poller stored first wins.

The store does not know how keys are made or what "the same event" means: it sees that through
`StoriesLike` (built by the poll stage from reportwatch.match.similar), as it sees the matcher.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, select, update

from reportwatch.models import Entry
from reportwatch.store.schema import entries, matches, story_keys
from reportwatch.store.upsert import insert_new

TITLE_WINDOW = timedelta(hours=72)  # the same title this far apart is the same story
CHUNK = 500


class StoriesLike(Protocol):
    def keys(self, entry: Entry) -> list[str]:
        """Exact-copy keys, strongest first: "l:…" (link), "g:…" (guid), "t:…" (title)."""
        ...

    def near(self, entry: Entry, when: datetime, source_id: int) -> int | None:
        """A recent story of another source that reports the same event, if any."""
        ...

    def added(self, story_id: int, entry: Entry, when: datetime, source_id: int) -> None:
        """A new story was started by this entry of this source."""
        ...


@dataclass(frozen=True)
class NewCopy:
    entry_id: int
    entry: Entry
    when: datetime  # published, else first seen (the entry's sort_time)
    source_id: int


def key_hash(key: str) -> str:
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def known_keys(conn: Connection, hashes: Sequence[str]) -> dict[str, tuple[int, datetime]]:
    found: dict[str, tuple[int, datetime]] = {}
    for start in range(0, len(hashes), CHUNK):
        chunk = list(hashes[start : start + CHUNK])
        query = select(story_keys.c.key_hash, story_keys.c.story_id, story_keys.c.seen).where(
            story_keys.c.key_hash.in_(chunk)
        )
        for h, story, seen in conn.execute(query):
            found[h] = (story, seen)
    return found


def _usable(key: str, hit: tuple[int, datetime] | None, when: datetime) -> bool:
    if hit is None:
        return False
    return not key.startswith("t:") or abs(when - hit[1]) <= TITLE_WINDOW


def assign(conn: Connection, copies: Sequence[NewCopy], stories: StoriesLike) -> dict[int, int]:
    """Give each new entry its story (in `copies` order, so an earlier copy founds the story);
    returns entry id → story id. Runs in the caller's transaction."""
    if not copies:
        return {}
    keys = {c.entry_id: stories.keys(c.entry) for c in copies}
    hashes = {k: key_hash(k) for ks in keys.values() for k in ks}
    known = known_keys(conn, list(dict.fromkeys(hashes.values())))
    stored = set(known)  # keys already in the table (a title key there may be stale)
    story_of: dict[int, int] = {}
    fresh: dict[str, tuple[str, int, datetime]] = {}  # hash → (key, story, seen) to store
    for copy in copies:
        mine = keys[copy.entry_id]
        story = next(
            (known[hashes[k]][0] for k in mine if _usable(k, known.get(hashes[k]), copy.when)),
            None,
        )
        if story is None:
            story = stories.near(copy.entry, copy.when, copy.source_id)
        if story is None:
            story = copy.entry_id
            stories.added(story, copy.entry, copy.when, copy.source_id)
        story_of[copy.entry_id] = story
        for k in mine:
            h = hashes[k]
            if not _usable(k, known.get(h), copy.when):  # new, or a title seen long ago
                known[h] = (story, copy.when)
                fresh[h] = (k, story, copy.when)
    if fresh:
        _store_keys(conn, fresh, stored)
        if conn.dialect.name != "sqlite":  # SQLite has one writer at a time: no race to lose
            story_of = _agree(conn, copies, keys, hashes, story_of)
    _set_stories(conn, story_of)
    return story_of


def _store_keys(
    conn: Connection, fresh: dict[str, tuple[str, int, datetime]], stored: set[str]
) -> None:
    """Insert new keys; a key another poller stored first is left as it is. A title key that
    was last seen outside the window now names the new story."""
    rows = [
        {"b_hash": h, "b_story": story, "b_seen": seen} for h, (_, story, seen) in fresh.items()
    ]
    new = [{"key_hash": r["b_hash"], "story_id": r["b_story"], "seen": r["b_seen"]}
           for r in rows if r["b_hash"] not in stored]  # fmt: skip
    stale = [r for r in rows if r["b_hash"] in stored]
    if new:
        insert_new(conn, story_keys, new, "key_hash")
    if stale:
        conn.execute(
            update(story_keys)
            .where(story_keys.c.key_hash == bindparam("b_hash"))
            .values(story_id=bindparam("b_story"), seen=bindparam("b_seen")),
            stale,
        )


def _agree(
    conn: Connection,
    copies: Sequence[NewCopy],
    keys: dict[int, list[str]],
    hashes: dict[str, str],
    story_of: dict[int, int],
) -> dict[int, int]:
    """Several pollers at once (PostgreSQL): a story this batch started may have lost one of
    its link/guid keys to another poller's story in the meantime; then the copy joins that one."""
    started = [c for c in copies if story_of[c.entry_id] == c.entry_id]
    wanted = [hashes[k] for c in started for k in keys[c.entry_id] if not k.startswith("t:")]
    if not wanted:
        return story_of
    stored = known_keys(conn, wanted)
    for c in started:
        for k in keys[c.entry_id]:
            hit = stored.get(hashes[k])
            if hit and hit[0] != c.entry_id and not k.startswith("t:"):
                story_of[c.entry_id] = hit[0]
                break
    return story_of


def _set_stories(conn: Connection, story_of: dict[int, int]) -> None:
    """entries.story_id, and the matches' story and first_seen: the story's earliest copy's,
    so that a late copy never makes its story new again. Most entries start their own story
    (their matches already carry their own first_seen): those take one statement a chunk."""
    own = [e for e, s in story_of.items() if e == s]
    for start in range(0, len(own), CHUNK):
        chunk = own[start : start + CHUNK]
        conn.execute(update(entries).where(entries.c.id.in_(chunk)).values(story_id=entries.c.id))
        conn.execute(
            update(matches).where(matches.c.entry_id.in_(chunk)).values(story_id=matches.c.entry_id)
        )
    joined = [{"b_id": e, "b_story": s} for e, s in story_of.items() if e != s]
    if joined:
        conn.execute(
            update(entries)
            .where(entries.c.id == bindparam("b_id"))
            .values(story_id=bindparam("b_story")),
            joined,
        )
        sync_matches(conn, [row["b_id"] for row in joined])


def sync_matches(conn: Connection, entry_ids: Sequence[int]) -> None:
    """Copy each entry's story and its story's first_seen onto the entry's match rows."""
    copy = entries.alias("copy")
    first = (
        select(copy.c.first_seen)
        .where(copy.c.story_id == entries.c.story_id)
        .order_by(copy.c.first_seen, copy.c.id)
        .limit(1)
        .scalar_subquery()
    )
    for start in range(0, len(entry_ids), CHUNK):
        chunk = list(entry_ids[start : start + CHUNK])
        rows = conn.execute(
            select(entries.c.id, entries.c.story_id, first).where(
                entries.c.id.in_(chunk), entries.c.story_id.is_not(None)
            )
        ).all()
        if rows:
            conn.execute(
                update(matches)
                .where(matches.c.entry_id == bindparam("b_id"))
                .values(story_id=bindparam("b_story"), first_seen=bindparam("b_first")),
                [{"b_id": i, "b_story": s, "b_first": f} for i, s, f in rows],
            )


def unassigned(conn: Connection, limit: int) -> list[tuple[Any, ...]]:
    """Entries stored before stories existed (or by an older poller), oldest first."""
    return conn.execute(
        select(
            entries.c.id,
            entries.c.key,
            entries.c.title,
            entries.c.summary,
            entries.c.link,
            entries.c.sort_time,
            entries.c.first_seen,
            entries.c.source_id,
        )  # fmt: skip
        .where(entries.c.story_id.is_(None))
        .order_by(entries.c.first_seen, entries.c.id)
        .limit(limit)
    ).all()


def founders_since(conn: Connection, since: datetime, after_id: int) -> list[tuple[Any, ...]]:
    """Stories started at or after `since` (by sort time) with an id above `after_id`: what a
    poller's near-duplicate index loads at start and then adds from other pollers."""
    return conn.execute(
        select(
            entries.c.id,
            entries.c.title,
            entries.c.summary,
            entries.c.sort_time,
            entries.c.source_id,
        )  # fmt: skip
        .where(entries.c.story_id == entries.c.id, entries.c.id > after_id)
        .where(entries.c.sort_time >= since)
        .order_by(entries.c.id)
    ).all()
