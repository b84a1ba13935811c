"""The store: SQLAlchemy Core on SQLite (WAL) or PostgreSQL; every write is one transaction."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Engine,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from reportwatch.models import Entry, FetchResult, FetchState
from reportwatch.store.errors import StoreError, describe_db_error, shown_url
from reportwatch.store.feedback import (
    StoredModel,
    StoredVerdict,
    Verdict,
    apply_verdicts,
    attach_pending,
    drop_model,
    feedback_serial,
    forget_verdict,
    load_models,
    model_versions,
    pending_subjects,
    save_model,
    save_verdicts,
    stored_verdicts,
    verdicts_of,
)
from reportwatch.store.outbox import (
    ChannelPlan,
    ChannelStatus,
    OutboxRow,
    channel_status,
    claim,
    defer,
    enqueue,
    last_story_sent,
    mark_failed,
    mark_sent,
    open_new,
    release,
    renew,
    sent_since,
)
from reportwatch.store.outbox import register as outbox_register
from reportwatch.store.schema import (
    NewerSchemaError,
    entries,
    has_table,
    matches,
    meta,
    migrate,
    poll_runs,
    sources,
    story_keys,
)
from reportwatch.store.stories import (
    NewCopy,
    StoriesLike,
    assign,
    founders_since,
    key_hash,
    known_keys,
    sync_matches,
    unassigned,
)
from reportwatch.store.upsert import insert_new
from reportwatch.store.writes import MatcherLike, match_row, store_source
from reportwatch.urls import sqlite_file


@dataclass(frozen=True)
class SourceRow:
    id: int
    name: str
    url: str
    state: FetchState
    failures: int


@dataclass(frozen=True)
class SourceUpdate:
    """One source's fetch outcome, as the cycle hands it to the store."""

    source: SourceRow
    result: FetchResult
    now: datetime
    next_due: datetime
    entries: Sequence[Entry] = ()  # the parsed entries (none when it failed or was unchanged)
    feed_title: str | None = None
    body_hash: str | None = None  # of a body that parsed, so an unchanged one is skipped later
    error: str | None = None  # the parse error, when the fetch itself succeeded


BUSY_TIMEOUT_ENV = "REPORTWATCH_BUSY_TIMEOUT"  # seconds to wait for another writer (default 30)


def busy_timeout_ms() -> int:
    """How long SQLite waits for a lock before 'database is locked' (env override, in seconds)."""
    try:
        seconds = float(os.environ.get(BUSY_TIMEOUT_ENV) or 30)
    except ValueError:
        seconds = 30.0
    return max(0, int(seconds * 1000))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    # busy_timeout first: switching to WAL itself needs a lock when another process holds one.
    cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms()}")  # wait instead of 'locked'
    _use_wal(cursor)  # readers never block the poller's writes
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _use_wal(cursor: Any) -> None:
    """WAL is stored in the file, so it is usually set already. Switching a rollback-journal file
    needs its exclusive lock, and when several openers switch together SQLite says 'locked' at
    once instead of waiting (its busy handler would deadlock): wait for our busy timeout here."""
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    deadline = time.monotonic() + busy_timeout_ms() / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)  # a retry interval; the other opener holds the lock briefly


def _with_driver(url: str) -> str:
    """postgresql:// means psycopg (3), the driver we install; SQLAlchemy 2.0 would pick
    psycopg2 for it. An explicit postgresql+driver:// is left as written."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


class Store:
    def __init__(self, url: str):
        self.url = url
        # A ping per checkout guards against dropped server connections; a SQLite file has none,
        # and the poller checks a connection out once per source.
        ping = not url.startswith("sqlite")
        self.engine: Engine = create_engine(_with_driver(url), future=True, pool_pre_ping=ping)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        event.listen(self.engine, "handle_error", self._wrap_error)
        try:
            with self.engine.begin() as conn:
                migrate(conn)
                sqlite = conn.dialect.name == "sqlite"
                self.search_queue = sqlite and has_table(conn, "entries_fts_pending")
        except NewerSchemaError as exc:
            raise StoreError(f"{exc}: {shown_url(url)}") from exc
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(describe_db_error(exc, url)) from exc

    def _wrap_error(self, context: Any) -> None:
        """Driver errors leave the store as StoreError with a sentence an analyst can act on
        (pages and the CLI catch that one type); the driver's exception stays as its cause."""
        raise StoreError(
            describe_db_error(context.original_exception, self.url)
        ) from context.sqlalchemy_exception

    def close(self) -> None:
        self.engine.dispose()

    # -- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()

    def set_meta(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            insert_new(conn, meta, {"key": key, "value": value}, "key", update={"value": value})

    # -- sources ----------------------------------------------------------------------------
    def sync_sources(self, configured: Iterable[tuple[str, str, bool]]) -> None:
        """Make the sources table follow the config (name, url, enabled); history is kept."""
        wanted = {name: (url, enabled) for name, url, enabled in configured}
        with self.engine.begin() as conn:
            rows = {r.name: r for r in conn.execute(select(sources))}
            for name, (url, enabled) in wanted.items():
                row = rows.get(name)
                if row is None:
                    values = {"name": name, "url": url, "enabled": enabled}
                    insert_new(conn, sources, values, "name")
                elif row.url != url or row.enabled != enabled:
                    reset = {"etag": None, "last_modified": None, "body_hash": None}
                    values = {"url": url, "enabled": enabled, **(reset if row.url != url else {})}
                    conn.execute(update(sources).where(sources.c.id == row.id).values(**values))
            for name, row in rows.items():
                if name not in wanted and row.enabled:
                    conn.execute(
                        update(sources).where(sources.c.id == row.id).values(enabled=False)
                    )

    def claim_due(
        self, owner: str, now: datetime, lease: timedelta, force: bool = False
    ) -> list[SourceRow]:
        """Take a lease on each due source so that two pollers never fetch one source at once.

        One UPDATE takes every free, due source (atomic: SQLite runs one writer at a time, and
        PostgreSQL re-checks the WHERE of a row another transaction just leased), then one
        SELECT reads back what this call took: this owner with exactly this lease's end."""
        due = or_(sources.c.next_due.is_(None), sources.c.next_due <= now)
        free = or_(sources.c.lease_until.is_(None), sources.c.lease_until < now)
        until = now + lease
        take = (
            update(sources)
            .where(sources.c.enabled, free, *(() if force else (due,)))
            .values(lease_owner=owner, lease_until=until)
        )
        cols = (sources.c.id, sources.c.name, sources.c.url, sources.c.etag,
                sources.c.last_modified, sources.c.body_hash, sources.c.failures)  # fmt: skip
        taken = (
            select(*cols)
            .where(sources.c.lease_owner == owner, sources.c.lease_until == until)
            .order_by(sources.c.id)
        )
        with self.engine.begin() as conn:
            conn.execute(take)
            rows = conn.execute(taken).all()
        return [
            SourceRow(
                r.id, r.name, r.url, FetchState(r.etag, r.last_modified, r.body_hash), r.failures
            )  # fmt: skip
            for r in rows
        ]

    def release_dead_leases(self, is_dead: Callable[[str], bool], now: datetime) -> int:
        """Free the leases of pollers known to be gone (killed with -9, power cut) at once,
        instead of leaving their sources unpolled until the leases expire."""
        held = (
            select(sources.c.lease_owner)
            .where(sources.c.lease_owner.is_not(None), sources.c.lease_until >= now)
            .distinct()
        )
        with self.engine.connect() as conn:
            owners = conn.execute(held).scalars().all()
        dead = [owner for owner in owners if is_dead(owner)]
        if dead:
            with self.engine.begin() as conn:
                conn.execute(
                    update(sources)
                    .where(sources.c.lease_owner.in_(dead))
                    .values(lease_owner=None, lease_until=None)
                )
        return len(dead)

    def release(self, source_ids: Sequence[int], owner: str) -> None:
        if not source_ids:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(sources)
                .where(sources.c.id.in_(source_ids), sources.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

    def save_result(
        self, update: SourceUpdate, matcher: MatcherLike, stories: StoriesLike | None = None,
        plans: Sequence[ChannelPlan] = (),
    ) -> int:  # fmt: skip
        """Store one source's outcome and entries in a single transaction; returns new entries."""
        source, result, error, now = update.source, update.result, update.error, update.now
        feed_title, body_hash = update.feed_title, update.body_hash
        ok = result.status != "error" and error is None
        values: dict[str, Any] = {
            "status": result.status if ok else "error",
            "last_checked": now,
            "error": None if ok else (error or result.error),
            "failures": 0 if ok else source.failures + 1,
            "next_due": update.next_due,
            "latency": result.latency,
            "bytes": result.nbytes,
        }
        if ok:
            values |= {"last_ok": now, "etag": result.etag, "last_modified": result.last_modified}
            if body_hash:
                values["body_hash"] = body_hash
            if feed_title:
                values["feed_title"] = feed_title
        if result.permanent_redirect:
            values["moved_to"] = result.permanent_redirect
        try:
            with self.engine.begin() as conn:
                return store_source(
                    conn, source.id, update.entries, matcher, now, values, stories, plans
                )
        except sqlite3.Error as exc:  # the SQLite writer talks to the driver directly
            raise StoreError(describe_db_error(exc, self.url)) from exc

    # -- search index ----------------------------------------------------------------------
    def index_pending(self) -> int:
        """Add the rows queued since the last call (schema v3) to the search index; returns how
        many. One transaction, run after a cycle rather than per insert: indexing 9,000 rows at
        once costs a fraction of 9,000 trigger runs, and not while the cycle parses."""
        if not self.search_queue:
            return 0
        with self.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO entries_fts(rowid, title, summary) "
                "SELECT e.id, e.title, e.summary FROM entries_fts_pending p "
                "JOIN entries e ON e.id = p.id"
            )
            return conn.exec_driver_sql("DELETE FROM entries_fts_pending").rowcount

    # -- rules --------------------------------------------------------------------------------
    def rematch_if_changed(self, matcher: MatcherLike, batch: int = 2000) -> int:
        """Re-match stored entries when the rules changed; returns how many entries were checked."""
        if self.get_meta("rules_fingerprint") == matcher.fingerprint:
            return 0
        checked, last_id = 0, 0
        cols = (entries.c.id, entries.c.title, entries.c.summary, entries.c.categories,
                entries.c.sort_time, entries.c.first_seen, entries.c.matched)  # fmt: skip
        while True:
            with self.engine.begin() as conn:
                rows = conn.execute(
                    select(*cols).where(entries.c.id > last_id).order_by(entries.c.id).limit(batch)
                ).all()
                if not rows:
                    break
                conn.execute(delete(matches).where(matches.c.entry_id.in_([r.id for r in rows])))
                flips, match_rows = [], []
                for r in rows:
                    cats = r.categories.split("\n") if r.categories else []
                    found = matcher.match(r.title, r.summary, cats)
                    if bool(found) != r.matched:
                        flips.append({"b_id": r.id, "matched": bool(found)})
                    match_rows += [match_row(r.id, m, r.sort_time, r.first_seen) for m in found]
                if flips:
                    conn.execute(update(entries).where(entries.c.id == bindparam("b_id")), flips)
                if match_rows:  # another poller may be re-matching the same rows right now
                    insert_new(conn, matches, match_rows, ("entry_id", "tag"))
                    sync_matches(conn, [r.id for r in rows])
            checked += len(rows)
            last_id = rows[-1].id
        with self.engine.begin() as conn:  # the analysts' verdicts stand whatever matched
            apply_verdicts(conn)
        self.set_meta("rules_fingerprint", matcher.fingerprint)
        return checked

    # -- alerts -------------------------------------------------------------------------------
    def register_channels(self, names: Iterable[str]) -> None:
        with self.engine.begin() as conn:
            outbox_register(conn, names)

    def open_channels(self, plans: Sequence[ChannelPlan], now: datetime) -> list[str]:
        """End the first cycle of new channels (their backlog gets one summary)."""
        with self.engine.begin() as conn:
            return open_new(conn, plans, now)

    def enqueue_all(self, plans: Sequence[ChannelPlan], now: datetime,
                    recent: datetime | None = None) -> int:  # fmt: skip
        """Outbox rows for every stored story new to a channel (first seen after `recent`,
        when given) that has none yet: after a re-match, and to catch up."""
        with self.engine.begin() as conn:
            return enqueue(conn, plans, now, recent=recent)

    def outbox_renew(self, ids: Sequence[int], owner: str, until: datetime) -> bool:
        with self.engine.begin() as conn:
            return renew(conn, ids, owner, until)

    def claim_outbox(self, owner: str, now: datetime, lease: timedelta,
                     limit: int = 100) -> list[OutboxRow]:  # fmt: skip
        with self.engine.begin() as conn:
            return claim(conn, owner, now, lease, limit)

    def outbox_sent(self, ids: Sequence[int], channel: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            mark_sent(conn, ids, channel, now)

    def outbox_failed(self, ids: Sequence[int], channel: str, error: str,
                      next_try: datetime, now: datetime) -> None:  # fmt: skip
        with self.engine.begin() as conn:
            mark_failed(conn, ids, channel, error, next_try, now)

    def outbox_defer(
        self, ids: Sequence[int], next_try: datetime, owner: str | None = None
    ) -> None:
        with self.engine.begin() as conn:
            defer(conn, ids, next_try, owner)

    def outbox_release(self, ids: Sequence[int]) -> None:
        with self.engine.begin() as conn:
            release(conn, ids)

    def last_story_sent(self, channel: str) -> datetime | None:
        with self.engine.connect() as conn:
            return last_story_sent(conn, channel)

    def sent_since(self, channel: str, since: datetime) -> int:
        with self.engine.connect() as conn:
            return sent_since(conn, channel, since)

    def channel_status(self, names: Sequence[str]) -> list[ChannelStatus]:
        with self.engine.connect() as conn:
            return channel_status(conn, names)

    # -- feedback and models ------------------------------------------------------------------
    def save_feedback(self, verdicts: Sequence[Verdict], now: datetime) -> None:
        """Store analysts' verdicts and apply them to their stories at once."""
        with self.engine.begin() as conn:
            save_verdicts(conn, verdicts, now)

    def forget_feedback(self, story_id: int, tag: str) -> bool:
        with self.engine.begin() as conn:
            return forget_verdict(conn, story_id, tag)

    def feedback(self, tag: str | None = None) -> list[StoredVerdict]:
        with self.engine.connect() as conn:
            return stored_verdicts(conn, tag)

    def verdicts(self, story_ids: Iterable[int]) -> dict[tuple[int, str], bool]:
        with self.engine.connect() as conn:
            return verdicts_of(conn, story_ids)

    def feedback_serial(self) -> int:
        with self.engine.connect() as conn:
            return feedback_serial(conn)

    def story_by_keys(self, keys: Sequence[str], link: str | None = None) -> int | None:
        """The story that has one of these exact-copy keys (see StoriesLike.keys), else the
        story of an entry with exactly this link; None."""
        with self.engine.connect() as conn:
            hashes = [key_hash(k) for k in keys]
            known = known_keys(conn, hashes)
            for h in hashes:
                if h in known:
                    return int(known[h][0])
            if link:
                row = conn.execute(
                    select(entries.c.story_id, entries.c.id).where(entries.c.link == link).limit(1)
                ).first()
                if row is not None:
                    return int(row[0] if row[0] is not None else row[1])
        return None

    def story_text(self, story_id: int) -> tuple[str, str, str | None] | None:
        """(title, summary, link) of the story's first copy; None if it has none stored."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(entries.c.title, entries.c.summary, entries.c.link)
                .where(or_(entries.c.story_id == story_id, entries.c.id == story_id))
                .order_by(entries.c.first_seen, entries.c.id)
                .limit(1)
            ).first()
        return None if row is None else (row[0], row[1], row[2])

    def model_versions(self) -> dict[str, tuple[int, str]]:
        with self.engine.connect() as conn:
            return model_versions(conn)

    def load_models(self, tags: Iterable[str] | None = None) -> list[StoredModel]:
        with self.engine.connect() as conn:
            return load_models(conn, tags)

    def save_model(self, model: StoredModel, previous: int | None) -> bool:
        with self.engine.begin() as conn:
            return save_model(conn, model, previous)

    def drop_model(self, tag: str, version: int) -> bool:
        with self.engine.begin() as conn:
            return drop_model(conn, tag, version)

    def pending_feedback(self) -> list[str]:
        """Subjects ("l:<link key>") of imported verdicts still waiting for their story."""
        with self.engine.connect() as conn:
            return pending_subjects(conn)

    def attach_feedback(self, subjects: Sequence[str]) -> list[int]:
        """Attach waiting verdicts to the stories that now have their links; returns those."""
        with self.engine.begin() as conn:
            known = known_keys(conn, [key_hash(s) for s in subjects])
            found = {s: int(known[key_hash(s)][0]) for s in subjects if key_hash(s) in known}
            return attach_pending(conn, found)

    # -- stories ------------------------------------------------------------------------------
    def assign_stories(self, stories: StoriesLike, batch: int = 2000) -> int:
        """Give entries stored without a story (before schema v4) theirs, oldest first, as if
        they had arrived in that order; returns how many. Several pollers may run this at once:
        each batch is one transaction, and story keys make them agree."""
        done = 0
        while True:
            with self.engine.begin() as conn:
                rows = unassigned(conn, batch)
                if not rows:
                    return done
                copies = [
                    NewCopy(r.id, Entry(key=r.key, title=r.title, summary=r.summary,
                                        link=r.link, published=r.sort_time), r.sort_time,
                            r.source_id)
                    for r in rows
                ]  # fmt: skip
                assign(conn, copies, stories)
            done += len(rows)

    def story_founders(self, since: datetime, after_id: int = 0) -> list[tuple[Any, ...]]:
        """(story id, title, summary, time, source id) of stories started since `since`, above
        `after_id`."""
        with self.engine.connect() as conn:
            return [tuple(r) for r in founders_since(conn, since, after_id)]

    def prune(self, now: datetime, retention_days: int) -> int:
        """Drop unmatched entries older than the retention; matched ones are kept for good."""
        cutoff = now - timedelta(days=retention_days)
        with self.engine.begin() as conn:
            pruned = conn.execute(
                delete(entries).where(and_(~entries.c.matched, entries.c.first_seen < cutoff))
            ).rowcount
            if pruned:  # keys of stories that no longer have a copy name nothing
                alive = select(entries.c.id).where(
                    or_(entries.c.story_id == story_keys.c.story_id,
                        entries.c.id == story_keys.c.story_id)
                )  # fmt: skip
                conn.execute(delete(story_keys).where(~alive.exists()))
                per_source = (
                    select(func.count())
                    .select_from(entries)
                    .where(entries.c.source_id == sources.c.id)
                    .scalar_subquery()
                )
                conn.execute(update(sources).values(entries=per_source))
            return pruned

    # -- runs ---------------------------------------------------------------------------------
    def start_run(self, now: datetime, trigger: str) -> int:
        with self.engine.begin() as conn:
            return conn.execute(
                poll_runs.insert().values(started=now, trigger=trigger)
            ).inserted_primary_key[0]

    def finish_run(
        self, run_id: int, now: datetime, n: int, ok: int, errors: int, new: int
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(poll_runs)
                .where(poll_runs.c.id == run_id)
                .values(finished=now, sources=n, ok=ok, errors=errors, new_entries=new)
            )


def open_store(url: str) -> Store:
    """Open (and migrate) the store, turning driver errors into one clear StoreError."""
    path = sqlite_file(url)
    if path is not None and not path.parent.exists():
        raise StoreError(f"the database folder does not exist: {path.parent}")
    try:
        return Store(url)
    except (SQLAlchemyError, OSError) as exc:  # OperationalError, or a URL SQLAlchemy refuses
        raise StoreError(describe_db_error(exc, url)) from exc
    except ImportError as exc:  # e.g. postgresql:// without its driver installed
        raise StoreError(
            f"the database driver is not installed ({exc.name}): {shown_url(url)}"
        ) from exc
