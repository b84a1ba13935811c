"""Tables and migrations. The schema is versioned; migrations run in order on start."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
    inspect,
    select,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("status", String(20)),  # ok / not_modified / error; NULL = never checked
    Column("last_checked", UTCDateTime),
    Column("last_ok", UTCDateTime),
    Column("error", Text),
    Column("failures", Integer, nullable=False, default=0),
    Column("next_due", UTCDateTime),
    Column("latency", Float),
    Column("bytes", Integer),
    Column("entries", Integer, nullable=False, default=0),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("body_hash", String(64)),
    Column("feed_title", Text),
    Column("moved_to", Text),  # target of a permanent redirect
    Column("lease_owner", String(64)),
    Column("lease_until", UTCDateTime),
)

entries = Table(
    "entries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("key", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("link", Text),
    Column("published", UTCDateTime),  # NULL when the feed gave no usable date
    Column("first_seen", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("sort_time", UTCDateTime, nullable=False),  # published, else first_seen
    Column("authors", Text, nullable=False, default=""),  # newline-separated
    Column("categories", Text, nullable=False, default=""),  # newline-separated
    Column("matched", Boolean, nullable=False, default=False),
    # The story this entry is a copy of: the id of the story's first copy (schema v4). NULL
    # until the poller has assigned it (right after the insert, or the backfill of older rows).
    Column("story_id", Integer),
    UniqueConstraint("source_id", "key", name="uq_entries_source_key"),
    Index("ix_entries_matched_sort", "matched", "sort_time"),
    Index("ix_entries_first_seen", "first_seen"),
    Index("ix_entries_story", "story_id"),
)

matches = Table(
    "matches",
    metadata,
    Column("entry_id", ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(200), primary_key=True),
    Column("score", Float, nullable=False),
    Column("hits", Text, nullable=False),  # JSON list of [keyword, field]
    Column("sort_time", UTCDateTime, nullable=False),  # copied from the entry for indexed paging
    # The story's first_seen (its first copy's), so a late copy never counts as new; and the
    # entry's story (its own id until assigned), so counts are of stories, not copies.
    Column("first_seen", UTCDateTime, nullable=False),
    Column("story_id", Integer),
    Index("ix_matches_tag_sort", "tag", "sort_time"),
    Index("ix_matches_first_seen", "first_seen"),
)

# Exact-copy keys of stories (schema v4): a hash of "l:<link key>", "g:<guid>" or "t:<title>"
# → the story that has it. The primary key makes two pollers agree on one story per key.
story_keys = Table(
    "story_keys",
    metadata,
    Column("key_hash", String(32), primary_key=True),
    Column("story_id", Integer, nullable=False),
    Column("seen", UTCDateTime, nullable=False),  # the story's time (published, else first seen)
)

# An analyst's verdict on a story and tag (schema v5): final for that story and tag, and what
# the tag's model learns from. `subject` is "s:<story id>", or "l:<link key>" for an imported
# verdict whose link no stored story has (kept for training). The text is kept with it, so
# the models still learn from verdicts on stories that retention has pruned.
feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subject", String(2100), nullable=False),
    Column("story_id", Integer),
    Column("tag", String(200), nullable=False),
    Column("relevant", Boolean, nullable=False),
    Column("analyst", String(200)),  # who said so, where sign-in exists
    Column("at", UTCDateTime, nullable=False),
    Column("origin", String(20), nullable=False, default="ui"),  # ui / import / cli
    Column("title", Text, nullable=False, default=""),
    Column("summary", Text, nullable=False, default=""),
    Column("link", Text),
    UniqueConstraint("subject", "tag", name="uq_feedback_subject_tag"),
    Index("ix_feedback_story", "story_id"),
)

# Each tag's learned model (schema v5), as JSON (reportwatch.match.learned.TagModel): one row
# per tag, its version counting up at every retraining.
tag_models = Table(
    "tag_models",
    metadata,
    Column("tag", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("trained_at", UTCDateTime, nullable=False),
    Column("labels", Integer, nullable=False),
    Column("feedback_serial", Integer, nullable=False),  # the feedback change it followed
    # sha256 of the tag's verdicts (subject, relevant) it was trained on: a model is out of date
    # when the verdicts differ, whether one was added, changed or withdrawn
    Column("labels_digest", String(64), nullable=False, default=""),
    Column("body", Text, nullable=False),
)

# Alerts (schema v6). A channel is known to the store from the first cycle that sees it in the
# config; `since` is set when that cycle ends: stories first seen before it are the backlog
# (one summary), every story first seen after it is announced. One outbox row per story and
# channel, written in the transaction that stores or tags the story; delivery claims rows with
# a lease, so several pollers never send one row twice.
channels = Table(
    "channels",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("since", UTCDateTime),  # NULL until the first cycle that saw it has ended
    Column("last_sent", UTCDateTime),
    Column("last_error", Text),
    Column("last_error_at", UTCDateTime),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel", String(100), nullable=False),
    Column("story_id", Integer, nullable=False),  # 0: the channel's backlog summary
    Column("created", UTCDateTime, nullable=False),
    Column("state", String(10), nullable=False, default="pending"),  # pending / sent
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_try", UTCDateTime, nullable=False),
    Column("lease_owner", String(64)),
    Column("lease_until", UTCDateTime),
    Column("last_error", Text),
    Column("sent_at", UTCDateTime),
    Column("detail", Text),  # the backlog summary's counts (JSON); NULL for a story
    UniqueConstraint("channel", "story_id", name="uq_outbox_channel_story"),
    Index("ix_outbox_due", "state", "next_try"),
)

poll_runs = Table(
    "poll_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started", UTCDateTime, nullable=False),
    Column("finished", UTCDateTime),
    Column("trigger", String(20), nullable=False, default="schedule"),
    Column("sources", Integer, nullable=False, default=0),
    Column("ok", Integer, nullable=False, default=0),
    Column("errors", Integer, nullable=False, default=0),
    Column("new_entries", Integer, nullable=False, default=0),
    Index("ix_poll_runs_finished", "finished"),
)


def _v1(conn: Connection) -> None:
    metadata.create_all(conn)


def _fts5_trigram_available(conn: Connection) -> bool:
    """Probe the driver's SQLite on a scratch database: FTS5 and its trigram tokenizer (≥3.34)."""
    dbapi = conn.dialect.dbapi
    if dbapi is None:
        return False
    probe = dbapi.connect(":memory:")
    try:
        probe.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='trigram')")
        return True
    except dbapi.Error:
        return False
    finally:
        probe.close()


_FTS_SQL = (
    # External content: the index refers to entries' rows instead of copying their text.
    "CREATE VIRTUAL TABLE entries_fts USING fts5(title, summary, content='entries', "
    "content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER entries_fts_ai AFTER INSERT ON entries BEGIN "
    "INSERT INTO entries_fts(rowid, title, summary) VALUES (new.id, new.title, new.summary); END",
    "CREATE TRIGGER entries_fts_ad AFTER DELETE ON entries BEGIN "
    "INSERT INTO entries_fts(entries_fts, rowid, title, summary) "
    "VALUES ('delete', old.id, old.title, old.summary); END",
    "CREATE TRIGGER entries_fts_au AFTER UPDATE OF title, summary ON entries BEGIN "
    "INSERT INTO entries_fts(entries_fts, rowid, title, summary) "
    "VALUES ('delete', old.id, old.title, old.summary); "
    "INSERT INTO entries_fts(rowid, title, summary) VALUES (new.id, new.title, new.summary); END",
    "INSERT INTO entries_fts(entries_fts) VALUES ('rebuild')",  # backfill the existing rows
)


def _v2_fts(conn: Connection) -> None:
    """Full-text search that works for Chinese (trigrams need no word segmentation).

    SQLite only; PostgreSQL, or a SQLite without FTS5/trigram, searches with LIKE instead
    (reportwatch.store.explore checks whether entries_fts exists).
    """
    if conn.dialect.name != "sqlite" or not _fts5_trigram_available(conn):
        return
    for statement in _FTS_SQL:
        conn.exec_driver_sql(statement)


# v3: the insert trigger only queues the new row; a catch-up indexes the queue in one statement
# after a cycle (reportwatch.store.index_pending), so a cold cycle's thousands of inserts do not
# pay for trigram indexing while parsing competes for the CPU. Update and delete stay exact:
# an external-content FTS5 'delete' of a row that was never indexed corrupts the index, so a
# queued row only has its queue entry handled, and an indexed row leaves the index at once
# (an updated one is queued again with its new text). Search reads the queue with LIKE.
_FTS_QUEUE_SQL = (
    "CREATE TABLE entries_fts_pending (id INTEGER PRIMARY KEY)",
    "DROP TRIGGER IF EXISTS entries_fts_ai",
    "DROP TRIGGER IF EXISTS entries_fts_ad",
    "DROP TRIGGER IF EXISTS entries_fts_au",
    "CREATE TRIGGER entries_fts_ai AFTER INSERT ON entries BEGIN "
    "INSERT INTO entries_fts_pending(id) VALUES (new.id); END",
    "CREATE TRIGGER entries_fts_ad AFTER DELETE ON entries BEGIN "
    "INSERT INTO entries_fts(entries_fts, rowid, title, summary) "
    "SELECT 'delete', old.id, old.title, old.summary "
    "WHERE NOT EXISTS (SELECT 1 FROM entries_fts_pending WHERE id = old.id); "
    "DELETE FROM entries_fts_pending WHERE id = old.id; END",
    "CREATE TRIGGER entries_fts_au AFTER UPDATE OF title, summary ON entries BEGIN "
    "INSERT INTO entries_fts(entries_fts, rowid, title, summary) "
    "SELECT 'delete', old.id, old.title, old.summary "
    "WHERE NOT EXISTS (SELECT 1 FROM entries_fts_pending WHERE id = old.id); "
    "INSERT INTO entries_fts_pending(id) SELECT new.id "
    "WHERE NOT EXISTS (SELECT 1 FROM entries_fts_pending WHERE id = new.id); END",
)


def has_table(conn: Connection, name: str) -> bool:
    found = conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).first()
    return found is not None


def _v3_fts_queue(conn: Connection) -> None:
    """Index new rows after the cycle instead of inside each insert (SQLite with FTS5 only)."""
    if conn.dialect.name != "sqlite" or not has_table(conn, "entries_fts"):
        return
    for statement in _FTS_QUEUE_SQL:  # v2 indexed every row, so the queue starts empty
        conn.exec_driver_sql(statement)


def _v4_stories(conn: Connection) -> None:
    """Stories: entries.story_id (NULL: the poller assigns it, older rows by a backfill),
    matches.story_id (each entry its own story until then), and the story_keys table."""
    have = {c["name"] for c in inspect(conn).get_columns("entries")}
    if "story_id" not in have:  # a v1 created by this release already has it
        conn.exec_driver_sql("ALTER TABLE entries ADD COLUMN story_id INTEGER")
        conn.exec_driver_sql("CREATE INDEX ix_entries_story ON entries (story_id)")
    if "story_id" not in {c["name"] for c in inspect(conn).get_columns("matches")}:
        conn.exec_driver_sql("ALTER TABLE matches ADD COLUMN story_id INTEGER")
    conn.exec_driver_sql("UPDATE matches SET story_id = entry_id WHERE story_id IS NULL")
    story_keys.create(conn, checkfirst=True)


def _v5_feedback(conn: Connection) -> None:
    """Analysts' verdicts and the learned models."""
    feedback.create(conn, checkfirst=True)
    tag_models.create(conn, checkfirst=True)


def _v6_outbox(conn: Connection) -> None:
    """Alert channels and the outbox."""
    channels.create(conn, checkfirst=True)
    outbox.create(conn, checkfirst=True)


MIGRATIONS: list[Callable[[Connection], None]] = [
    _v1, _v2_fts, _v3_fts_queue, _v4_stories, _v5_feedback, _v6_outbox,
]  # fmt: skip
SCHEMA_VERSION = len(MIGRATIONS)


class NewerSchemaError(Exception):
    """The database is ahead of this code: migrations only go forward."""


SCHEMA_LOCK_ID = 0x7265706F  # the pg_advisory_xact_lock key: any constant that is ours


def _stored_version(conn: Connection) -> int:
    if not inspect(conn).has_table("meta"):
        return 0
    row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first()
    return int(row[0]) if row else 0


def _lock_schema(conn: Connection) -> None:
    """Hold the schema for this transaction: pollers and pages that start together on a new
    database would otherwise all create the same tables, and all but one fail."""
    if conn.dialect.name == "sqlite":  # the write lock now; the others wait (busy_timeout)
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(SCHEMA_LOCK_ID)))


def migrate(conn: Connection) -> None:
    """Bring the schema to SCHEMA_VERSION; each step runs once, in order, by one opener."""
    if _stored_version(conn) == SCHEMA_VERSION:  # the usual start: no lock, nothing written
        return
    _lock_schema(conn)
    current = _stored_version(conn)  # another opener may have migrated while this one waited
    if current > SCHEMA_VERSION:
        raise NewerSchemaError(
            f"the database was written by a newer reportwatch (schema v{current}; this one "
            f"reads up to v{SCHEMA_VERSION}): upgrade reportwatch to use it"
        )
    meta.create(conn, checkfirst=True)
    for version in range(current, SCHEMA_VERSION):
        MIGRATIONS[version](conn)
    if current != SCHEMA_VERSION:
        _set_version(conn)


def _set_version(conn: Connection) -> None:
    done = conn.execute(
        meta.update().where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION))
    )
    if not done.rowcount:
        conn.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
