"""Alerts: each new matching story reaches each configured channel once.

The cycle registers the configured channels when it starts and opens new ones when it ends (what
a channel's first cycle found is its backlog: one summary); the writes put every story new to a
channel in its outbox in the transaction that stores or tags it; deliver() sends after the
commit, under a lease, one row at a time, so two pollers never send one row and a kill between
sending and marking repeats at most one message. Failures are kept and retried with backoff
(longer when the platform asks: a 429's Retry-After, the robots' rate codes). When more stories
wait than a channel may take this minute, they go out as one digest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from reportwatch.config.settings import LoadedConfig, NotifyChannel
from reportwatch.notify.message import (
    Message,
    StoryNote,
    backlog_message,
    digest_messages,
    story_message,
    test_message,
)
from reportwatch.notify.send import Sent, message_bytes, per_minute, send
from reportwatch.store.core import Store
from reportwatch.store.outbox import BACKLOG, ChannelPlan, OutboxRow

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=2)  # renewed before each send (see _send)
BACKOFF = (30, 60, 120, 300, 600, 1800, 3600)  # seconds after the 1st, 2nd … failure
CLAIM = 200


def report_tags(loaded: LoadedConfig) -> list[str]:
    from reportwatch.config.reports import load_reports

    tags = [t for r in load_reports(loaded.reports_path).reports for t in r.tags]
    return list(dict.fromkeys(tags)) or list(loaded.config.tags)


def plans(loaded: LoadedConfig) -> list[ChannelPlan]:
    if not loaded.config.notify:
        return []
    default = report_tags(loaded)
    return [ChannelPlan(c.name, tuple(c.tags or default)) for c in loaded.config.notify]


def cycle_started(store: Store, loaded: LoadedConfig) -> list[ChannelPlan]:
    """The channels the writes of this cycle enqueue for (new ones are registered: their first
    cycle is under way)."""
    found = plans(loaded)
    if found:
        store.register_channels([p.name for p in found])
    return found


CATCH_UP = timedelta(hours=1)
_known: dict[str, set[str]] = {}  # store URL → the channels this process enqueued for last


def cycle_ended(store: Store, found: list[ChannelPlan], now: datetime, rematched: int) -> None:
    if not found:
        return
    opened = store.open_channels(found, now)
    if opened:
        log.info("alerts: channel(s) %s start now; earlier stories are their backlog", opened)
    names = {p.name for p in found}
    if rematched or not names <= _known.get(store.url, set()):
        # A re-match (stories that gained a watched tag), this process's first cycle, or a
        # channel back in the config: every story since each channel started that has no
        # outbox row gets one (nothing stored while a channel was out of the config is lost).
        store.enqueue_all(found, now)
    else:
        # Another poller, with a config from before a channel was added, stores stories
        # without enqueuing them for it: the last hour's are caught up at every cycle.
        store.enqueue_all(found, now, recent=now - CATCH_UP)
    _known[store.url] = names


@dataclass
class Delivery:
    sent: int = 0  # messages
    stories: int = 0  # stories announced (a digest carries several)
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    retry_at: dict[str, datetime] = field(default_factory=dict)  # channel → its next try
    _settled: set[int] = field(default_factory=set)  # rows sent, failed or deferred

    def mark(self, row_id: int) -> None:
        self._settled.add(row_id)

    def settled(self, row_id: int) -> bool:
        return row_id in self._settled


def deliver(store: Store, loaded: LoadedConfig, owner: str,
            now: datetime | None = None) -> Delivery:  # fmt: skip
    """Send what is due in the outbox (after the cycle's commits)."""
    done = Delivery()
    configured = {c.name: c for c in loaded.config.notify}
    if not configured:
        return done
    now = now or datetime.now(UTC)
    rows = store.claim_outbox(owner, now, LEASE, CLAIM)
    from reportwatch.config.reports import load_reports

    reports = load_reports(loaded.reports_path).reports  # once a delivery, not per channel
    default = list(dict.fromkeys(t for r in reports for t in r.tags)) or list(loaded.config.tags)
    context = _Context(store, owner, now, [(r.title, set(r.tags)) for r in reports], default)
    by_channel: dict[str, list[OutboxRow]] = {}
    for row in rows:
        by_channel.setdefault(row.channel, []).append(row)
    for name, mine in by_channel.items():
        channel = configured.get(name)
        if channel is None:  # removed from the config: kept, in case it comes back
            store.outbox_release([r.id for r in mine])
            continue
        try:
            _deliver_channel(context, loaded, channel, mine, done)
        except Exception:  # one channel's trouble never stops the others or the cycle
            log.exception("alerts: delivery to channel %s failed", name)
            store.outbox_release([r.id for r in mine])
    return done


@dataclass
class _Context:
    store: Store
    owner: str
    now: datetime
    reports: list[tuple[str, set[str]]]  # (title, tags) of each report, read once
    default_tags: list[str]  # a channel without tags: every tag of the reports


class _Stop(Exception):
    """The channel failed (a timeout, a 500, a 429) or its lease was lost: this delivery stops
    trying it; its remaining rows wait for their next try."""


def _deliver_channel(ctx: _Context, loaded: LoadedConfig, channel: NotifyChannel,
                     rows: list[OutboxRow], done: Delivery) -> None:  # fmt: skip
    store, now, tz = ctx.store, ctx.now, loaded.config.timezone
    backlog = [r for r in rows if r.story_id == BACKLOG]
    stories = [r for r in rows if r.story_id != BACKLOG]
    try:
        for row in backlog:
            detail = _detail(row)
            tags = list(channel.tags or ctx.default_tags)
            message = backlog_message(detail.get("total", 0), detail.get("recent", 0),
                                      detail.get("days", 7), tags)  # fmt: skip
            _send(ctx, channel, [row], message, done)
        if stories:
            _deliver_stories(ctx, loaded, channel, stories, tz, done)
    except _Stop:
        left = [r.id for r in rows if not done.settled(r.id)]
        store.outbox_defer(left, max(done.retry_at.get(channel.name, now), now), ctx.owner)


def _deliver_stories(ctx: _Context, loaded: LoadedConfig, channel: NotifyChannel,
                     stories: list[OutboxRow], tz: str, done: Delivery) -> None:  # fmt: skip
    store, now = ctx.store, ctx.now
    ids = [r.id for r in stories]
    if channel.mode == "digest":
        last = store.last_story_sent(channel.name)
        due = last + timedelta(seconds=channel.digest_every) if last else now
        if now < due:  # the next digest is not due yet
            store.outbox_defer(ids, due)
            return
    room = per_minute(channel) - store.sent_since(channel.name, now - timedelta(minutes=1))
    if room <= 0:  # the channel took all it may this minute: next minute
        store.outbox_defer(ids, now + timedelta(seconds=60))
        return
    notes = _notes(store, ctx.reports, [r.story_id for r in stories])
    # Pruned before it could be told, or no longer carrying a tag the channel watches (an
    # analyst's verdict or a retrained model took it off since it was enqueued): not sent.
    watched = set(channel.tags or ctx.default_tags)
    notes = {s: n for s, n in notes.items() if watched & set(n.tags)}
    gone = [r for r in stories if r.story_id not in notes]
    if gone:
        store.outbox_sent([r.id for r in gone], channel.name, now)
        for r in gone:
            done.mark(r.id)
    present = [r for r in stories if r.story_id in notes]
    if channel.mode == "digest" or len(present) > room:
        why = "摘要" if channel.mode == "digest" else "超过频率上限,合并发送"
        parts = digest_messages([notes[r.story_id] for r in present], why,
                                message_bytes(channel))  # fmt: skip
        start = 0
        for number, (message, count) in enumerate(parts):
            chunk = present[start : start + count]
            start += count
            if number >= room:  # the rest goes out next minute, still whole
                store.outbox_defer([r.id for r in chunk], now + timedelta(seconds=60))
                for r in chunk:
                    done.mark(r.id)
                continue
            _send(ctx, channel, chunk, message, done, count=count)
        return
    for row in present:
        _send(ctx, channel, [row], story_message(notes[row.story_id], tz), done)


def _send(ctx: _Context, channel: NotifyChannel, rows: list[OutboxRow], message: Message,
          done: Delivery, count: int | None = None) -> None:  # fmt: skip
    store, now = ctx.store, ctx.now
    ids = [r.id for r in rows]
    # Still ours? A lease that ran out (slow sends) may have passed the rows to another
    # poller: then this one must not send them too.
    if not store.outbox_renew(ids, ctx.owner, datetime.now(UTC) + LEASE):
        raise _Stop
    result = send(channel, message)
    if result.ok:
        store.outbox_sent(ids, channel.name, datetime.now(UTC))
        done.sent += 1
        done.stories += len(rows) if count is None else count
        for i in ids:
            done.mark(i)
        return
    attempts = max(r.attempts for r in rows)
    wait = max(BACKOFF[min(attempts, len(BACKOFF) - 1)], result.retry_after or 0)
    retry = now + timedelta(seconds=wait)
    store.outbox_failed(ids, channel.name, result.error, retry, now)
    for i in ids:
        done.mark(i)
    done.failed += 1
    done.errors.append(f"{channel.name}: {result.error}")
    done.retry_at[channel.name] = retry
    log.warning("alerts: channel %s: %s (retry in %ds)", channel.name, result.error, wait)
    raise _Stop  # one failure is enough this round: a hung or limited channel waits


def _detail(row: OutboxRow) -> dict[str, int]:
    import json

    try:
        data = json.loads(row.detail or "{}")
        return {k: int(v) for k, v in data.items()}
    except (ValueError, TypeError, AttributeError):
        return {}


def _notes(store: Store, reports: list[tuple[str, set[str]]],
           ids: list[int]) -> dict[int, StoryNote]:  # fmt: skip
    from reportwatch.store.queries import stories_by_id

    out = {}
    for item in stories_by_id(store, ids):
        titles = [title for title, tags in reports if tags & set(item.tags)]
        out[item.story] = StoryNote(
            item.title, item.link, item.sources, item.published or item.first_seen,
            item.tags, item.keywords, titles,
        )  # fmt: skip
    return out


def send_test(loaded: LoadedConfig, name: str) -> Sent:
    channel = next((c for c in loaded.config.notify if c.name == name), None)
    if channel is None:
        known = ", ".join(c.name for c in loaded.config.notify) or "none"
        return Sent(False, f"no channel named {name!r} in notify: (configured: {known})")
    return send(channel, test_message(name))
