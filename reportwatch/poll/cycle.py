"""One poll cycle: claim due sources, fetch, parse, store, match, release, record the run."""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from reportwatch.config.settings import LoadedConfig, SourceConfig
from reportwatch.feeds.fetch import FetchRequest, FetchSettings, backoff_seconds, fetch_all
from reportwatch.models import FetchResult, ParsedFeed
from reportwatch.poll import alerts
from reportwatch.poll.owner import owner_is_dead, poller_id
from reportwatch.poll.stories import Stories, stories_for
from reportwatch.store.core import SourceRow, SourceUpdate, Store, StoreError
from reportwatch.store.writes import MatcherLike

if TYPE_CHECKING:  # imported where used: a cycle of 304s needs no parser or process pool,
    # and the matcher is built while the first requests are on the network
    from reportwatch.feeds.parse import ParseJob
    from reportwatch.feeds.parsepool import ParsePool
    from reportwatch.match.matcher import Matcher

log = logging.getLogger(__name__)

# Parsing is CPU work: past this many changed bodies a second process pays for its start-up.
PARALLEL_PARSE_MIN = 40


@dataclass
class SourceOutcome:
    name: str
    status: str
    error: str | None = None
    new_entries: int = 0
    entries: int = 0
    latency: float = 0.0


@dataclass
class CycleReport:
    started: datetime
    finished: datetime | None = None
    outcomes: list[SourceOutcome] = field(default_factory=list)
    rematched: int = 0
    pruned: int = 0
    alerts: alerts.Delivery | None = None

    @property
    def new_entries(self) -> int:
        return sum(o.new_entries for o in self.outcomes)

    @property
    def errors(self) -> int:
        return sum(o.status == "error" for o in self.outcomes)


def utcnow() -> datetime:
    return datetime.now(UTC)


_last_matcher: list[Matcher] = []  # the previous cycle's, reused while the rules stay the same


def build_matcher(loaded: LoadedConfig) -> Matcher:
    """Rules from the config plus every tag a report names (watched even without a rule).

    While the rules are unchanged (same fingerprint) the previous matcher is returned: its
    automata and memo of outcomes then serve every `--watch` or embedded cycle, instead of
    being rebuilt (~0.1 s) at each one.
    """
    from reportwatch.config.reports import load_reports
    from reportwatch.match.matcher import compile_rules

    report_tags = [t for r in load_reports(loaded.reports_path).reports for t in r.tags]
    matcher = compile_rules(loaded.config.rules(), extra_tags=report_tags)
    if _last_matcher and _last_matcher[0].fingerprint == matcher.fingerprint:
        return _last_matcher[0]
    _last_matcher[:] = [matcher]
    return matcher


def relevance(loaded: LoadedConfig, store: Store) -> MatcherLike:
    """The rules, with each tag's learned model where the analysts' feedback trained one
    (retrained first when the feedback changed since)."""
    from reportwatch.poll.learn import current_matcher

    return current_matcher(store, loaded, build_matcher(loaded))


def fetch_settings(loaded: LoadedConfig) -> FetchSettings:
    f = loaded.config.fetch
    return FetchSettings(
        concurrency=f.concurrency,
        per_host=f.per_host,
        timeout=f.timeout,
        connect_timeout=f.connect_timeout,
        max_bytes=f.max_bytes,
        max_redirects=f.max_redirects,
    )


class ParseQueue:
    """Parses bodies as they arrive; in worker processes when there are many (the CPU part)."""

    def __init__(self, expected: int):
        self.parallel = expected >= PARALLEL_PARSE_MIN and (os.cpu_count() or 1) >= 2
        self.pool: ParsePool | None = None
        self.pending: dict[str, Future[ParsedFeed] | ParseJob] = {}
        self.lock = threading.Lock()

    def start(self) -> ParsePool | None:
        """The worker pool, started on first use; None (parse here) if it cannot start."""
        with self.lock:
            if self.pool is None and self.parallel:
                from reportwatch.feeds.parsepool import ParsePool

                try:
                    self.pool = ParsePool(os.cpu_count() or 2)
                except OSError:  # e.g. no processes left: slower, but nothing is lost
                    log.exception("cannot start parse workers; parsing in the poller")
                    self.parallel = False
            return self.pool

    def submit(self, name: str, job: ParseJob) -> None:
        # The pool starts at the first changed body (an all-304 cycle needs none), or
        # earlier when the cycle is known to need it (see run_cycle).
        pool = self.start() if self.parallel else None
        # Without a pool the body is parsed here when its result is asked for.
        self.pending[name] = pool.submit(job) if pool is not None else job

    def result(self, name: str) -> ParsedFeed | None:
        item = self.pending.pop(name, None)
        if item is None:
            return None
        try:
            if isinstance(item, Future):
                return item.result()
            from reportwatch.feeds.parse import parse_job

            return parse_job(item)
        except Exception as exc:  # a worker that died must not end the cycle
            return ParsedFeed(title="", entries=[], is_feed=False, error=f"parse failed: {exc}")

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def run_cycle(
    loaded: LoadedConfig,
    store: Store,
    *,
    owner: str | None = None,
    force: bool = False,
    trigger: str = "schedule",
    on_fetched: Callable[[FetchResult], None] | None = None,
    matcher: MatcherLike | None = None,
) -> CycleReport:
    """Poll every due source once. Feeds can fail; the cycle itself never raises for them."""
    config = loaded.config
    owner = owner or poller_id()
    report = CycleReport(started=utcnow())
    store.sync_sources((s.name, s.url, s.enabled) for s in config.sources)
    lease = timedelta(seconds=config.fetch.timeout * 3 + 60)
    store.release_dead_leases(owner_is_dead, report.started)  # a killed worker's sources
    claimed = store.claim_due(owner, report.started, lease, force=force)
    channels = alerts.cycle_started(store, loaded)
    if not claimed:  # rule changes (and new models) still apply to the stored entries
        report.rematched = store.rematch_if_changed(matcher or relevance(loaded, store))
        report.finished = utcnow()
        _alerts(store, loaded, channels, report, owner)
        return report
    run_id = store.start_run(report.started, trigger)
    by_name = {s.name: s for s in config.sources}
    by_claim = {s.name: s for s in claimed}
    queue_ = ParseQueue(len(claimed))
    if queue_.parallel and sum(s.state.body_hash is None for s in claimed) >= PARALLEL_PARSE_MIN:
        queue_.start()  # many never-parsed feeds: the workers start while the requests go out
    # Fetch in a thread and store here as results arrive: storing overlaps the network wait.
    arrived: queue.Queue[FetchResult | None] = queue.Queue()
    hashes: dict[str, str] = {}

    def fetched(result: FetchResult) -> None:
        # Runs as each fetch ends, so parsing overlaps the fetches still in flight.
        try:
            if result.status == "ok" and result.body is not None:
                digest = hashlib.sha256(result.body).hexdigest()
                hashes[result.name] = digest
                if digest != by_claim[result.name].state.body_hash:  # same bytes: skip parsing
                    cfg = by_name.get(result.name)
                    tz, enc = (cfg.timezone, cfg.encoding) if cfg else (None, None)
                    job = (result.body, result.headers, tz, enc, result.url)
                    queue_.submit(result.name, job)
            if on_fetched is not None:
                on_fetched(result)
        finally:
            arrived.put(result)

    requests = [
        FetchRequest(
            s.name, s.url, s.state, public_only=_public_only(loaded, by_name.get(s.name), s)
        )
        for s in claimed
    ]
    fetcher = threading.Thread(
        target=_fetch_into, args=(requests, fetch_settings(loaded), fetched, arrived), daemon=True
    )
    fetcher.start()
    stored: set[str] = set()
    try:
        # Compile the rules (and re-match stored entries if they changed) while the first
        # requests are on the network: this CPU work no longer delays them.
        matcher = matcher or relevance(loaded, store)
        report.rematched = store.rematch_if_changed(matcher)
        stories = stories_for(store, report.started)
        # Each result is stored on its own (one short transaction per source). Saving the
        # 304s already waiting in one transaction would not help: measured, 300 304s took
        # as long to fetch with storing switched off (0.81 s either way); each costs ~0.2 ms,
        # done between the waves of responses.
        while (result := arrived.get()) is not None:
            feed = queue_.result(result.name)
            source, cfg = by_claim[result.name], by_name.get(result.name)
            outcome = _store_one(
                loaded, store, source, cfg, result, feed, hashes, matcher, stories, channels
            )
            report.outcomes.append(outcome)
            stored.add(result.name)
        for source in claimed:
            if source.name not in stored:  # the fetcher died before this one: retry next cycle
                lost = FetchResult(source.name, source.url, "error", error="fetch did not complete")
                cfg = by_name.get(source.name)
                outcome = _store_one(
                    loaded, store, source, cfg, lost, None, {}, matcher, stories, channels
                )
                report.outcomes.append(outcome)
    finally:
        fetcher.join()
        queue_.close()
        store.release([s.id for s in claimed], owner)
    report.pruned = store.prune(utcnow(), config.retention_days)
    report.finished = utcnow()
    ok = sum(o.status != "error" for o in report.outcomes)
    store.finish_run(run_id, report.finished, len(claimed), ok, report.errors, report.new_entries)
    _alerts(store, loaded, channels, report, owner)
    return report


def _alerts(store: Store, loaded: LoadedConfig, channels: list[alerts.ChannelPlan],
            report: CycleReport, owner: str) -> None:  # fmt: skip
    """After the cycle's commits: verdicts imported before their story now apply to it (before
    anything is announced); open new channels, then send what is due."""
    try:
        pending = store.pending_feedback()
        if pending:
            store.attach_feedback(pending)
    except StoreError:  # the next cycle tries again
        log.exception("verdicts waiting for their stories could not be attached")
    if not channels:
        return
    try:
        alerts.cycle_ended(store, channels, report.finished or utcnow(), report.rematched)
        report.alerts = alerts.deliver(store, loaded, owner)
    except StoreError:  # the outbox keeps what was not sent; the next cycle tries again
        log.exception("alerts: the outbox could not be read or updated")


def _public_only(loaded: LoadedConfig, cfg: SourceConfig | None, source: SourceRow) -> bool:
    """Whether a source may be fetched from public addresses only: one added from the UI
    (origin: ui) unless allow_private_sources is set. Only a source this config names, at
    this URL, without an origin is the operator's own and trusted; a row the store holds for
    another host's config, or at a URL this config does not give, is not."""
    if loaded.config.allow_private_sources:
        return False
    return cfg is None or cfg.origin == "ui" or cfg.url != source.url


def _fetch_into(
    requests: list[FetchRequest],
    settings: FetchSettings,
    on_done: Callable[[FetchResult], None],
    arrived: queue.Queue[FetchResult | None],
) -> None:
    try:
        fetch_all(requests, settings, on_done)
    finally:
        arrived.put(None)  # always wake the consumer, even if the fetcher itself failed


def _store_one(
    loaded: LoadedConfig,
    store: Store,
    source: SourceRow,
    cfg: SourceConfig | None,
    result: FetchResult,
    feed: ParsedFeed | None,
    hashes: dict[str, str],
    matcher: MatcherLike,
    stories: Stories,
    channels: list[alerts.ChannelPlan],
) -> SourceOutcome:
    interval = (cfg.interval if cfg and cfg.interval else None) or loaded.config.poll_interval
    error = (feed.error or "not a feed") if feed is not None and not feed.is_feed else None
    failed = result.status == "error" or error is not None
    wait = (
        backoff_seconds(source.failures + 1, result.retry_after, base=interval)
        if failed
        else interval
    )
    outcome = SourceOutcome(source.name, "error" if failed else result.status)
    outcome.error, outcome.latency = error or result.error, result.latency
    now = utcnow()
    try:
        update = SourceUpdate(
            source=source,
            result=result,
            now=now,
            next_due=now + timedelta(seconds=wait),
            entries=feed.entries if feed and feed.is_feed else (),
            feed_title=feed.title if feed else None,
            body_hash=hashes.get(source.name) if not error else None,
            error=error,
        )
        outcome.new_entries = store.save_result(update, matcher, stories, channels)
    except Exception as exc:  # one source's storage problem must not end the cycle
        log.exception("storing %s failed", source.name)
        outcome.status, outcome.error = "error", f"could not store entries: {exc}"
    return outcome
