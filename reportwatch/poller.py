"""One poll cycle: claim due sources, fetch, parse, store, match, release, record the run."""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.context import BaseContext

from reportwatch.config import LoadedConfig
from reportwatch.embedded import owner_is_dead, poller_id
from reportwatch.fetch import FetchRequest, FetchSettings, backoff_seconds, fetch_all
from reportwatch.match import Matcher, compile_rules
from reportwatch.models import FetchResult, ParsedFeed
from reportwatch.parse import ParseJob, exit_with_parent, parse_job, warm_up
from reportwatch.reports import load_reports
from reportwatch.store import SourceRow, Store

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

    @property
    def new_entries(self) -> int:
        return sum(o.new_entries for o in self.outcomes)

    @property
    def errors(self) -> int:
        return sum(o.status == "error" for o in self.outcomes)


def utcnow() -> datetime:
    return datetime.now(UTC)


def build_matcher(loaded: LoadedConfig) -> Matcher:
    """Rules from the config plus every tag a report names (watched even without a rule)."""
    report_tags = [t for r in load_reports(loaded.reports_path).reports for t in r.tags]
    return compile_rules(loaded.config.rules(), extra_tags=report_tags)


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


def _worker_context() -> BaseContext:
    """forkserver where there is one: workers fork from a clean single-threaded process that
    has imported only the parser (this may run in a threaded server, so no plain fork, and
    spawn would re-import the whole __main__ program in every worker)."""
    if "forkserver" in get_all_start_methods():
        context = get_context("forkserver")
        context.set_forkserver_preload(["reportwatch.parse"])
        return context
    return get_context("spawn")


class ParseQueue:
    """Parses bodies as they arrive; in worker processes when there are many (the CPU part)."""

    def __init__(self, expected: int):
        self.parallel = expected >= PARALLEL_PARSE_MIN and (os.cpu_count() or 1) >= 2
        self.pool: ProcessPoolExecutor | None = None
        self.pending: dict[str, Future[ParsedFeed] | ParseJob] = {}
        self.lock = threading.Lock()

    def submit(self, name: str, job: ParseJob) -> None:
        if not self.parallel:
            self.pending[name] = job  # parsed in this process when its result is asked for
            return
        with self.lock:
            if self.pool is None:
                # Started at the first changed body (not before: an all-304 cycle needs none).
                cores = os.cpu_count() or 2
                self.pool = ProcessPoolExecutor(
                    max_workers=cores,
                    mp_context=_worker_context(),
                    initializer=exit_with_parent,  # no orphans when the poller is killed
                    initargs=(os.getpid(),),
                )
                for _ in range(cores):
                    self.pool.submit(warm_up)
        self.pending[name] = self.pool.submit(parse_job, job)

    def result(self, name: str) -> ParsedFeed | None:
        item = self.pending.pop(name, None)
        if item is None:
            return None
        try:
            return item.result() if isinstance(item, Future) else parse_job(item)
        except Exception as exc:  # a worker that died must not end the cycle
            return ParsedFeed(title="", entries=[], is_feed=False, error=f"parse failed: {exc}")

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def run_cycle(
    loaded: LoadedConfig,
    store: Store,
    *,
    owner: str | None = None,
    force: bool = False,
    trigger: str = "schedule",
    on_fetched: Callable[[FetchResult], None] | None = None,
    matcher: Matcher | None = None,
) -> CycleReport:
    """Poll every due source once. Feeds can fail; the cycle itself never raises for them."""
    config = loaded.config
    owner = owner or poller_id()
    matcher = matcher or build_matcher(loaded)
    report = CycleReport(started=utcnow())
    store.sync_sources((s.name, s.url, s.enabled) for s in config.sources)
    report.rematched = store.rematch_if_changed(matcher)
    lease = timedelta(seconds=config.fetch.timeout * 3 + 60)
    store.release_dead_leases(owner_is_dead, report.started)  # a killed worker's sources
    claimed = store.claim_due(owner, report.started, lease, force=force)
    if not claimed:
        report.finished = utcnow()
        return report
    run_id = store.start_run(report.started, trigger)
    by_name = {s.name: s for s in config.sources}
    by_claim = {s.name: s for s in claimed}
    queue_ = ParseQueue(len(claimed))
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

    requests = [FetchRequest(s.name, s.url, s.state) for s in claimed]
    fetcher = threading.Thread(
        target=_fetch_into, args=(requests, fetch_settings(loaded), fetched, arrived), daemon=True
    )
    fetcher.start()
    stored: set[str] = set()
    try:
        while (result := arrived.get()) is not None:
            feed = queue_.result(result.name)
            source = by_claim[result.name]
            report.outcomes.append(_store_one(loaded, store, source, result, feed, hashes, matcher))
            stored.add(result.name)
        for source in claimed:
            if source.name not in stored:  # the fetcher died before this one: retry next cycle
                lost = FetchResult(source.name, source.url, "error", error="fetch did not complete")
                report.outcomes.append(_store_one(loaded, store, source, lost, None, {}, matcher))
    finally:
        fetcher.join()
        queue_.close()
        store.release([s.id for s in claimed], owner)
    report.pruned = store.prune(utcnow(), config.retention_days)
    report.finished = utcnow()
    ok = sum(o.status != "error" for o in report.outcomes)
    store.finish_run(run_id, report.finished, len(claimed), ok, report.errors, report.new_entries)
    return report


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
    result: FetchResult,
    feed: ParsedFeed | None,
    hashes: dict[str, str],
    matcher: Matcher,
) -> SourceOutcome:
    cfg = next((s for s in loaded.config.sources if s.name == source.name), None)
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
        outcome.new_entries = store.save_result(
            source,
            result,
            feed.entries if feed and feed.is_feed else None,
            feed.title if feed else None,
            matcher,
            now,
            now + timedelta(seconds=wait),
            hashes.get(source.name) if not error else None,
            error,
        )
    except Exception as exc:  # one source's storage problem must not end the cycle
        log.exception("storing %s failed", source.name)
        outcome.status, outcome.error = "error", f"could not store entries: {exc}"
    return outcome
