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
    digest_message,
    story_message,
    test_message,
)
from reportwatch.notify.send import Sent, per_minute, send
from reportwatch.store.core import Store
from reportwatch.store.outbox import BACKLOG, ChannelPlan, OutboxRow

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=2)
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


def cycle_ended(store: Store, found: list[ChannelPlan], now: datetime, rematched: int) -> None:
    if not found:
        return
    opened = store.open_channels(found, now)
    if opened:
        log.info("alerts: channel(s) %s start now; earlier stories are their backlog", opened)
    if rematched:  # stories that gained a watched tag through a rule or model change
        store.enqueue_all(found, now)


@dataclass
class Delivery:
    sent: int = 0  # messages
    stories: int = 0  # stories announced (a digest carries several)
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def deliver(store: Store, loaded: LoadedConfig, owner: str,
            now: datetime | None = None) -> Delivery:  # fmt: skip
    """Send what is due in the outbox (after the cycle's commits)."""
    done = Delivery()
    configured = {c.name: c for c in loaded.config.notify}
    if not configured:
        return done
    now = now or datetime.now(UTC)
    rows = store.claim_outbox(owner, now, LEASE, CLAIM)
    by_channel: dict[str, list[OutboxRow]] = {}
    for row in rows:
        by_channel.setdefault(row.channel, []).append(row)
    for name, mine in by_channel.items():
        channel = configured.get(name)
        if channel is None:  # removed from the config: kept, in case it comes back
            store.outbox_release([r.id for r in mine])
            continue
        try:
            _deliver_channel(store, loaded, channel, mine, now, done)
        except Exception:  # one channel's trouble never stops the others or the cycle
            log.exception("alerts: delivery to channel %s failed", name)
            store.outbox_release([r.id for r in mine])
    return done


def _deliver_channel(store: Store, loaded: LoadedConfig, channel: NotifyChannel,
                     rows: list[OutboxRow], now: datetime, done: Delivery) -> None:  # fmt: skip
    tz = loaded.config.timezone
    backlog = [r for r in rows if r.story_id == BACKLOG]
    stories = [r for r in rows if r.story_id != BACKLOG]
    for row in backlog:
        detail = _detail(row)
        tags = list(channel.tags or report_tags(loaded))
        message = backlog_message(detail.get("total", 0), detail.get("recent", 0),
                                  detail.get("days", 7), tags)  # fmt: skip
        _send(store, channel, [row], message, now, done)
    if not stories:
        return
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
    notes = _notes(store, loaded, [r.story_id for r in stories])
    if channel.mode == "digest" or len(stories) > room:
        why = "摘要" if channel.mode == "digest" else "超过频率上限,合并发送"
        present = [r for r in stories if r.story_id in notes]
        message = digest_message([notes[r.story_id] for r in present], tz, why)
        _send(store, channel, stories, message, now, done, count=len(present))
        return
    for row in stories:
        note = notes.get(row.story_id)
        if note is None:  # the story was pruned before it could be told: nothing to send
            store.outbox_sent([row.id], channel.name, now)
            continue
        _send(store, channel, [row], story_message(note, tz), now, done)


def _send(store: Store, channel: NotifyChannel, rows: list[OutboxRow], message: Message,
          now: datetime, done: Delivery, count: int | None = None) -> Sent:  # fmt: skip
    result = send(channel, message)
    ids = [r.id for r in rows]
    if result.ok:
        store.outbox_sent(ids, channel.name, datetime.now(UTC))
        done.sent += 1
        done.stories += len(rows) if count is None else count
        return result
    attempts = max(r.attempts for r in rows)
    wait = max(BACKOFF[min(attempts, len(BACKOFF) - 1)], result.retry_after or 0)
    store.outbox_failed(ids, channel.name, result.error, now + timedelta(seconds=wait), now)
    done.failed += 1
    done.errors.append(f"{channel.name}: {result.error}")
    log.warning("alerts: channel %s: %s (retry in %ds)", channel.name, result.error, wait)
    return result


def _detail(row: OutboxRow) -> dict[str, int]:
    import json

    try:
        data = json.loads(row.detail or "{}")
        return {k: int(v) for k, v in data.items()}
    except (ValueError, TypeError, AttributeError):
        return {}


def _notes(store: Store, loaded: LoadedConfig, ids: list[int]) -> dict[int, StoryNote]:
    from reportwatch.config.reports import load_reports
    from reportwatch.store.queries import stories_by_id

    reports = load_reports(loaded.reports_path).reports
    out = {}
    for item in stories_by_id(store, ids):
        titles = [r.title for r in reports if set(r.tags) & set(item.tags)]
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
