"""Analysts' verdicts on stories (relevant or not for a tag) and the tags' learned models.

A verdict is final for its story and tag: a "not relevant" removes the tag from every copy of
the story and keeps it off copies that arrive later and off re-matches after rule or model
changes; a "relevant" gives the tag to the story (on its first copy) whatever the rules and the
model say. apply_verdicts() enforces that; the writes call it for the stories they touch and
re-matching for all.

Every change (a verdict saved, changed or withdrawn) counts up `feedback_changes` in `meta` in
the same transaction: pollers read that one number to know whether to look at the models; a
tag's model is out of date when the digest of its verdicts differs from the one it was trained on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Integer, String, and_, delete, exists, func, select, update

from reportwatch.store.schema import entries, feedback, matches, meta, tag_models
from reportwatch.store.upsert import insert_new

CHANGES = "feedback_changes"

CHUNK = 500
ANALYST_HIT = json.dumps([["分析师", "analyst"]], ensure_ascii=False)


@dataclass(frozen=True)
class Verdict:
    tag: str
    relevant: bool
    story_id: int | None  # None: an imported link no stored story has (kept for training)
    subject: str  # "s:<story id>" or "l:<link key>"
    title: str
    summary: str = ""
    link: str | None = None
    analyst: str | None = None
    origin: str = "ui"


@dataclass(frozen=True)
class StoredVerdict:
    id: int
    subject: str
    tag: str
    relevant: bool
    story_id: int | None
    title: str
    summary: str
    link: str | None
    analyst: str | None
    at: datetime
    origin: str

    def as_dict(self) -> dict[str, object]:
        return {
            "link": self.link, "tag": self.tag, "relevant": self.relevant,
            "title": self.title, "summary": self.summary, "story": self.story_id,
            "analyst": self.analyst,
            "at": self.at.isoformat(), "origin": self.origin,
        }  # fmt: skip


def save_verdicts(conn: Connection, verdicts: Sequence[Verdict], now: datetime) -> None:
    """Store verdicts (a later one for the same subject and tag replaces the earlier; the same
    verdict again changes nothing) and apply them to their stories, in the caller's transaction."""
    changed = False
    for v in verdicts:
        same = (feedback.c.subject == v.subject, feedback.c.tag == v.tag)
        before = conn.execute(select(feedback.c.relevant).where(*same)).first()
        if before is not None and bool(before[0]) == v.relevant:
            continue  # a re-import of the same verdict
        changed = True
        conn.execute(delete(feedback).where(*same))
        conn.execute(
            feedback.insert().values(
                subject=v.subject, story_id=v.story_id, tag=v.tag, relevant=v.relevant,
                analyst=v.analyst, at=now, origin=v.origin, title=v.title, summary=v.summary,
                link=v.link,
            )
        )  # fmt: skip
    if changed:
        _count_change(conn)
    apply_verdicts(conn, sorted({v.story_id for v in verdicts if v.story_id is not None}))


def forget_verdict(conn: Connection, story_id: int, tag: str) -> bool:
    """Withdraw the verdict on a story and tag (the rules and the model decide again at the
    next re-match). True when there was one."""
    gone = conn.execute(
        delete(feedback).where(feedback.c.subject == f"s:{story_id}", feedback.c.tag == tag)
    ).rowcount
    if gone:  # the analyst's own tag goes with it; a rule's or model's comes back on re-match
        _count_change(conn)
        ids = select(entries.c.id).where(entries.c.story_id == story_id)
        conn.execute(
            delete(matches).where(
                matches.c.entry_id.in_(ids), matches.c.tag == tag, matches.c.hits == ANALYST_HIT
            )
        )
        _recount_matched(conn, [story_id])
    return bool(gone)


def apply_verdicts(conn: Connection, story_ids: Sequence[int] | None = None) -> int:
    """Make the stories' tags follow their verdicts (all verdicts' stories when None). A few
    statements a chunk of stories and a tag, not a query per verdict: a re-match applies every
    verdict there is."""
    query = select(feedback.c.story_id, feedback.c.tag, feedback.c.relevant).where(
        feedback.c.story_id.is_not(None)
    )
    rows: list[Any] = []
    if story_ids is None:
        rows = conn.execute(query).all()
    else:
        for start in range(0, len(story_ids), CHUNK):
            chunk = list(story_ids[start : start + CHUNK])
            rows += conn.execute(query.where(feedback.c.story_id.in_(chunk))).all()
    touched: set[int] = set()
    stories = sorted({r.story_id for r in rows})
    for start in range(0, len(stories), CHUNK):
        chunk = set(stories[start : start + CHUNK])
        copies = conn.execute(
            select(entries.c.id, entries.c.story_id, entries.c.sort_time, entries.c.first_seen)
            .where(entries.c.story_id.in_(sorted(chunk)))
            .order_by(entries.c.first_seen, entries.c.id)
        ).all()
        story_of = {c.id: c.story_id for c in copies}
        first: dict[int, Any] = {}
        for c in copies:  # the story's first copy carries an analyst's tag
            first.setdefault(c.story_id, c)
        wanted: dict[tuple[str, bool], set[int]] = {}
        for r in rows:
            if r.story_id in chunk:
                wanted.setdefault((r.tag, bool(r.relevant)), set()).add(r.story_id)
        for (tag, relevant), judged in wanted.items():
            ids = [e for e, story in story_of.items() if story in judged]
            tagged = {
                story_of[e]
                for (e,) in conn.execute(
                    select(matches.c.entry_id).where(
                        matches.c.tag == tag, matches.c.entry_id.in_(ids)
                    )
                )
            }
            if not relevant:
                if tagged:
                    conn.execute(
                        delete(matches).where(matches.c.tag == tag, matches.c.entry_id.in_(ids))
                    )
                    touched |= tagged
                continue
            missing = [s for s in sorted(judged - tagged) if s in first]  # pruned: none
            if missing:
                conn.execute(
                    matches.insert(),
                    [{"entry_id": first[s].id, "tag": tag, "score": 1.0, "hits": ANALYST_HIT,
                      "sort_time": first[s].sort_time, "first_seen": first[s].first_seen,
                      "story_id": s} for s in missing],
                )  # fmt: skip
                touched.update(missing)
    _recount_matched(conn, sorted(touched))
    return len(touched)


def apply_for_entries(conn: Connection, entry_ids: Sequence[int]) -> None:
    """Apply the verdicts of the stories these (new or changed) entries belong to."""
    stories: set[int] = set()
    for start in range(0, len(entry_ids), CHUNK):
        chunk = list(entry_ids[start : start + CHUNK])
        found = select(entries.c.story_id).where(entries.c.id.in_(chunk))
        stories.update(
            r[0]
            for r in conn.execute(
                select(feedback.c.story_id).distinct().where(feedback.c.story_id.in_(found))
            )
        )
    if stories:
        apply_verdicts(conn, sorted(stories))


def _recount_matched(conn: Connection, story_ids: Sequence[int]) -> None:
    has_match = exists().where(matches.c.entry_id == entries.c.id)
    for start in range(0, len(story_ids), CHUNK):
        chunk = list(story_ids[start : start + CHUNK])
        conn.execute(update(entries).where(entries.c.story_id.in_(chunk)).values(matched=has_match))


def stored_verdicts(conn: Connection, tag: str | None = None) -> list[StoredVerdict]:
    query = select(
        feedback.c.id, feedback.c.subject, feedback.c.tag, feedback.c.relevant,
        feedback.c.story_id, feedback.c.title, feedback.c.summary, feedback.c.link,
        feedback.c.analyst, feedback.c.at, feedback.c.origin,
    ).order_by(feedback.c.id)  # fmt: skip
    if tag is not None:
        query = query.where(feedback.c.tag == tag)
    return [StoredVerdict(*r) for r in conn.execute(query)]


def verdicts_of(conn: Connection, story_ids: Iterable[int]) -> dict[tuple[int, str], bool]:
    """(story, tag) → relevant, for showing the verdicts beside the stories."""
    ids = list(story_ids)
    out: dict[tuple[int, str], bool] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        query = select(feedback.c.story_id, feedback.c.tag, feedback.c.relevant).where(
            feedback.c.story_id.in_(chunk)
        )
        out.update({(s, t): bool(r) for s, t, r in conn.execute(query)})
    return out


def _count_change(conn: Connection) -> None:
    """feedback_changes + 1, atomically (a row lock on PostgreSQL, the write lock on SQLite)."""
    plus_one = func.cast(func.cast(meta.c.value, Integer) + 1, String)
    bumped = conn.execute(update(meta).where(meta.c.key == CHANGES).values(value=plus_one))
    if not bumped.rowcount:
        insert_new(conn, meta, {"key": CHANGES, "value": "1"}, "key", update={"value": plus_one})


def feedback_serial(conn: Connection) -> int:
    """How many times the verdicts changed (a number that only grows)."""
    value = conn.execute(select(meta.c.value).where(meta.c.key == CHANGES)).scalar()
    return int(value or 0)


def labels_digest(rows: Iterable[tuple[str, bool]]) -> str:
    """A tag's verdicts (subject, relevant) as one digest, whatever their order."""
    lines = sorted(f"{subject}\t{int(relevant)}" for subject, relevant in rows)
    return hashlib.sha256("\n".join(lines).encode("utf-8", "surrogatepass")).hexdigest()


# -- models -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredModel:
    tag: str
    version: int
    trained_at: datetime
    labels: int
    feedback_serial: int
    body: str
    labels_digest: str = ""


def model_versions(conn: Connection) -> dict[str, tuple[int, str]]:
    """tag → (version, the digest of the verdicts it was trained on)."""
    query = select(tag_models.c.tag, tag_models.c.version, tag_models.c.labels_digest)
    return {t: (v, d) for t, v, d in conn.execute(query)}


def load_models(conn: Connection, tags: Iterable[str] | None = None) -> list[StoredModel]:
    query = select(
        tag_models.c.tag, tag_models.c.version, tag_models.c.trained_at, tag_models.c.labels,
        tag_models.c.feedback_serial, tag_models.c.body, tag_models.c.labels_digest,
    )  # fmt: skip
    if tags is not None:
        query = query.where(tag_models.c.tag.in_(list(tags)))
    return [StoredModel(*r) for r in conn.execute(query)]


def save_model(conn: Connection, model: StoredModel, previous: int | None) -> bool:
    """Store a model as the next version after `previous` (None: the tag's first). False when
    another host stored one first (its model wins; nothing is overwritten)."""
    values = {"version": model.version, "trained_at": model.trained_at, "labels": model.labels,
              "feedback_serial": model.feedback_serial, "body": model.body,
              "labels_digest": model.labels_digest}  # fmt: skip
    if previous is None:
        if conn.execute(select(tag_models.c.tag).where(tag_models.c.tag == model.tag)).first():
            return False
        conn.execute(tag_models.insert().values(tag=model.tag, **values))
        return True
    done = conn.execute(
        update(tag_models)
        .where(and_(tag_models.c.tag == model.tag, tag_models.c.version == previous))
        .values(**values)
    )
    return bool(done.rowcount)


def drop_model(conn: Connection, tag: str, version: int) -> bool:
    """Remove a tag's model (too few verdicts left: the rules decide again)."""
    done = conn.execute(
        delete(tag_models).where(tag_models.c.tag == tag, tag_models.c.version == version)
    )
    return bool(done.rowcount)


def pending_subjects(conn: Connection) -> list[str]:
    """Subjects ("l:…") of verdicts waiting for their story."""
    query = select(feedback.c.subject).distinct().where(feedback.c.story_id.is_(None))
    return [r[0] for r in conn.execute(query)]


def attach_pending(conn: Connection, found: dict[str, int]) -> list[int]:
    """Verdicts imported for links no story had: attach those whose link a story now has
    (`found`: subject "l:…" → story) and apply them. Returns the stories."""
    stories = []
    for subject, story in found.items():
        rows = conn.execute(
            select(feedback.c.id, feedback.c.tag).where(
                feedback.c.subject == subject, feedback.c.story_id.is_(None)
            )
        ).all()
        for row_id, tag in rows:
            own = (feedback.c.subject == f"s:{story}", feedback.c.tag == tag)
            if conn.execute(select(feedback.c.id).where(*own)).first() is not None:
                # a verdict given on the story itself stands
                conn.execute(delete(feedback).where(feedback.c.id == row_id))
                continue
            conn.execute(
                update(feedback)
                .where(feedback.c.id == row_id)
                .values(subject=f"s:{story}", story_id=story)
            )
            stories.append(story)
    if stories:
        _count_change(conn)
        apply_verdicts(conn, sorted(set(stories)))
    return sorted(set(stories))
