"""The alerts' outbox: one row per story and channel, written in the transaction that stores or
tags the story, delivered after the commit under a lease (reportwatch.poll.alerts).

Exactly once: the unique (channel, story) key makes a story enter a channel's outbox once,
whatever copies, re-matches or pollers follow; a row is claimed with a lease before it is sent
and marked sent right after, one row at a time, so a poller killed between sending and marking
can repeat at most that one message (another poller takes the row when the lease ends).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from reportwatch.store.schema import channels, matches, outbox
from reportwatch.store.upsert import insert_new

CHUNK = 500
BACKLOG = 0  # the story_id of a channel's backlog summary row


@dataclass(frozen=True)
class ChannelPlan:
    """What the store needs of a configured channel: its name and the tags it watches."""

    name: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class OutboxRow:
    id: int
    channel: str
    story_id: int
    attempts: int
    created: datetime
    detail: str | None


@dataclass(frozen=True)
class ChannelStatus:
    name: str
    since: datetime | None
    last_sent: datetime | None
    pending: int
    failing: int  # pending rows that failed at least once
    last_error: str | None
    last_error_at: datetime | None


def register(conn: Connection, names: Iterable[str]) -> None:
    """Channels the store does not know yet (their first cycle is under way: since is NULL)."""
    insert_new(conn, channels, [{"name": n} for n in names], ["name"])


def open_new(conn: Connection, plans: Sequence[ChannelPlan], now: datetime,
             backlog_days: int = 7) -> list[str]:  # fmt: skip
    """End the first cycle of channels that had one: from `now` on every new story of theirs
    is announced; what was there before is the backlog, told in one summary (when not empty)."""
    opened = []
    for plan in plans:
        done = conn.execute(
            update(channels)
            .where(channels.c.name == plan.name, channels.c.since.is_(None))
            .values(since=now)
        )
        if not done.rowcount:
            continue
        opened.append(plan.name)
        count = select(func.count(func.distinct(matches.c.story_id))).where(
            matches.c.tag.in_(plan.tags)
        )
        total = conn.execute(count).scalar() or 0
        recent = conn.execute(
            count.where(matches.c.first_seen >= now - timedelta(days=backlog_days))
        ).scalar()
        if total:
            detail = json.dumps({"total": total, "recent": recent or 0, "days": backlog_days})
            insert_new(conn, outbox, [_row(plan.name, BACKLOG, now, detail)],
                           ["channel", "story_id"])  # fmt: skip
    return opened


def _row(channel: str, story: int, now: datetime, detail: str | None = None) -> dict[str, Any]:
    return {"channel": channel, "story_id": story, "created": now, "state": "pending",
            "attempts": 0, "next_try": now, "detail": detail}  # fmt: skip


def enqueue(conn: Connection, plans: Sequence[ChannelPlan], now: datetime,
            story_ids: Sequence[int] | None = None,
            recent: datetime | None = None) -> int:  # fmt: skip
    """Outbox rows for the stories (all when None) that have a tag a channel watches and were
    first seen after the channel's first cycle; a story already in a channel's outbox is left
    as it is. Returns how many rows were added."""
    if not plans:
        return 0
    since = dict(
        conn.execute(
            select(channels.c.name, channels.c.since).where(
                channels.c.name.in_([p.name for p in plans]), channels.c.since.is_not(None)
            )
        ).all()
    )
    live = [p for p in plans if p.name in since]
    if not live:
        return 0
    tags = sorted({t for p in live for t in p.tags})
    query = select(matches.c.story_id, matches.c.tag, matches.c.first_seen).where(
        matches.c.tag.in_(tags), matches.c.story_id.is_not(None)
    )
    found: list[Any] = []
    if story_ids is None:
        earliest = min(since[p.name] for p in live)
        if recent is not None:
            earliest = max(earliest, recent)
        found = conn.execute(query.where(matches.c.first_seen >= earliest)).all()
    else:
        ids = sorted(set(story_ids))
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            found += conn.execute(query.where(matches.c.story_id.in_(chunk))).all()
    rows = []
    for plan in live:
        watched, start = set(plan.tags), since[plan.name]
        stories = {s for s, tag, first in found if tag in watched and first >= start}
        rows += [_row(plan.name, s, now) for s in sorted(stories)]
    return insert_new(conn, outbox, rows, ["channel", "story_id"])


def claim(conn: Connection, owner: str, now: datetime, lease: timedelta,
          limit: int = 100) -> list[OutboxRow]:  # fmt: skip
    """Take up to `limit` due rows for this owner until now + lease (rows another poller holds
    under a live lease are not taken; the conditions are checked again as each row is locked)."""
    free = or_(outbox.c.lease_owner.is_(None), outbox.c.lease_until < now)
    due = and_(outbox.c.state == "pending", outbox.c.next_try <= now, free)
    wanted = select(outbox.c.id).where(due).order_by(outbox.c.id).limit(limit)
    until = now + lease
    conn.execute(
        update(outbox)
        .where(outbox.c.id.in_(wanted.scalar_subquery()), due)
        .values(lease_owner=owner, lease_until=until)
    )
    rows = conn.execute(
        select(outbox.c.id, outbox.c.channel, outbox.c.story_id, outbox.c.attempts,
               outbox.c.created, outbox.c.detail)
        .where(outbox.c.lease_owner == owner, outbox.c.lease_until == until,
               outbox.c.state == "pending")
        .order_by(outbox.c.id)
    ).all()  # fmt: skip
    return [OutboxRow(*r) for r in rows]


def renew(conn: Connection, ids: Sequence[int], owner: str, until: datetime) -> bool:
    """Extend this owner's lease on the rows right before sending them; False when it lost one
    (its lease ran out and another poller took the row): then it must not send."""
    done = conn.execute(
        update(outbox)
        .where(outbox.c.id.in_(list(ids)), outbox.c.lease_owner == owner,
               outbox.c.state == "pending")
        .values(lease_until=until)
    )  # fmt: skip
    return done.rowcount == len(set(ids))


def mark_sent(conn: Connection, ids: Sequence[int], channel: str, now: datetime) -> None:
    conn.execute(
        update(outbox)
        .where(outbox.c.id.in_(list(ids)))
        .values(state="sent", sent_at=now, lease_owner=None, lease_until=None, last_error=None)
    )
    conn.execute(  # delivered again: the channel's last error is history
        update(channels).where(channels.c.name == channel).values(last_sent=now, last_error=None)
    )


def mark_failed(conn: Connection, ids: Sequence[int], channel: str, error: str,
                next_try: datetime, now: datetime) -> None:  # fmt: skip
    """A failed delivery is kept and tried again at next_try; never dropped."""
    conn.execute(
        update(outbox)
        .where(outbox.c.id.in_(list(ids)))
        .values(
            attempts=outbox.c.attempts + 1,
            next_try=next_try,
            last_error=error,
            lease_owner=None,
            lease_until=None,
        )  # fmt: skip
    )
    conn.execute(
        update(channels)
        .where(channels.c.name == channel)
        .values(last_error=error, last_error_at=now)
    )


def defer(
    conn: Connection, ids: Sequence[int], next_try: datetime, owner: str | None = None
) -> None:
    """Not yet (a digest's time, the channel's rate or trouble): no attempt, no error. With
    `owner`, only the rows it still holds (another poller's lease is left alone)."""
    if ids:
        query = update(outbox).where(outbox.c.id.in_(list(ids)), outbox.c.state == "pending")
        if owner is not None:
            query = query.where(outbox.c.lease_owner == owner)
        conn.execute(query.values(next_try=next_try, lease_owner=None, lease_until=None))


def release(conn: Connection, ids: Sequence[int]) -> None:
    """Give rows back without an attempt (e.g. the channel is no longer configured)."""
    if ids:
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(list(ids)))
            .values(lease_owner=None, lease_until=None)
        )


def sent_since(conn: Connection, channel: str, since: datetime) -> int:
    """Messages a channel took since `since` (a digest counts once: its rows share sent_at)."""
    query = select(func.count(func.distinct(outbox.c.sent_at))).where(
        outbox.c.channel == channel, outbox.c.state == "sent", outbox.c.sent_at >= since
    )
    return int(conn.execute(query).scalar() or 0)


def last_story_sent(conn: Connection, channel: str) -> datetime | None:
    """When the channel last took a message about stories (not its backlog summary)."""
    query = select(func.max(outbox.c.sent_at)).where(
        outbox.c.channel == channel, outbox.c.state == "sent", outbox.c.story_id != BACKLOG
    )
    return conn.execute(query).scalar()


def channel_status(conn: Connection, names: Sequence[str]) -> list[ChannelStatus]:
    known = {r.name: r for r in conn.execute(select(channels))}
    pending = dict(
        conn.execute(
            select(outbox.c.channel, func.count())
            .where(outbox.c.state == "pending")
            .group_by(outbox.c.channel)
        ).all()
    )
    failing = dict(
        conn.execute(
            select(outbox.c.channel, func.count())
            .where(outbox.c.state == "pending", outbox.c.attempts > 0)
            .group_by(outbox.c.channel)
        ).all()
    )
    out = []
    for name in names:
        row = known.get(name)
        out.append(
            ChannelStatus(
                name,
                row.since if row else None,
                row.last_sent if row else None,
                int(pending.get(name, 0)),
                int(failing.get(name, 0)),
                row.last_error if row else None,
                row.last_error_at if row else None,
            )  # fmt: skip
        )
    return out
