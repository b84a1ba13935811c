"""One poll cycle: claim due sources, fetch, parse, store, match, release, record the run."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context

from reportwatch.config import LoadedConfig
from reportwatch.fetch import FetchRequest, FetchSettings, backoff_seconds, fetch_all
from reportwatch.match import Matcher, compile_rules
from reportwatch.models import FetchResult, ParsedFeed
from reportwatch.parse import parse_entries
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


def poller_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


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


def _parse_job(args: tuple[bytes, dict[str, str], str | None, str | None, str]) -> ParsedFeed:
    body, headers, tz, encoding, url = args
    return parse_entries(body, headers, source_timezone=tz, encoding=encoding, base_url=url)


def _parse_all(jobs: list[tuple[bytes, dict[str, str], str | None, str | None, str]]) -> list:
    if len(jobs) < PARALLEL_PARSE_MIN or (os.cpu_count() or 1) < 2:
        return [_parse_job(job) for job in jobs]
    # spawn, not fork: this may run inside a threaded server process.
    with ProcessPoolExecutor(max_workers=os.cpu_count(), mp_context=get_context("spawn")) as pool:
        return list(pool.map(_parse_job, jobs, chunksize=max(1, len(jobs) // 16)))


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
    settings = fetch_settings(loaded)
    lease = timedelta(seconds=settings.timeout * 3 + 60)
    claimed = store.claim_due(owner, report.started, lease, force=force)
    if not claimed:
        report.finished = utcnow()
        return report
    run_id = store.start_run(report.started, trigger)
    by_name = {s.name: s for s in config.sources}
    try:
        requests = [FetchRequest(s.name, s.url, s.state) for s in claimed]
        results = fetch_all(requests, settings, on_fetched)
        report.outcomes = _store_results(loaded, store, claimed, results, by_name, matcher)
    finally:
        store.release([s.id for s in claimed], owner)
    report.pruned = store.prune(utcnow(), config.retention_days)
    report.finished = utcnow()
    ok = sum(o.status != "error" for o in report.outcomes)
    store.finish_run(
        run_id, report.finished, len(claimed), ok, report.errors, report.new_entries
    )
    return report


def _store_results(
    loaded: LoadedConfig,
    store: Store,
    claimed: list[SourceRow],
    results: list[FetchResult],
    by_name: dict,
    matcher: Matcher,
) -> list[SourceOutcome]:
    config = loaded.config
    hashes: dict[int, str] = {}
    jobs, job_index = [], {}
    for i, (source, result) in enumerate(zip(claimed, results, strict=True)):
        if result.status != "ok" or result.body is None:
            continue
        hashes[i] = hashlib.sha256(result.body).hexdigest()
        if hashes[i] == source.state.body_hash:
            continue  # byte-identical to last time: nothing new to parse
        cfg = by_name.get(source.name)
        tz = cfg.timezone if cfg else None
        enc = cfg.encoding if cfg else None
        job_index[i] = len(jobs)
        jobs.append((result.body, result.headers, tz, enc, result.url))
    parsed = _parse_all(jobs)

    outcomes = []
    for i, (source, result) in enumerate(zip(claimed, results, strict=True)):
        cfg = by_name.get(source.name)
        interval = (cfg.interval if cfg and cfg.interval else None) or config.poll_interval
        feed = parsed[job_index[i]] if i in job_index else None
        error = None
        if feed is not None and not feed.is_feed:
            error = feed.error or "not a feed"
        now = utcnow()
        failed = result.status == "error" or error is not None
        if failed:
            wait = backoff_seconds(source.failures + 1, result.retry_after, base=interval)
        else:
            wait = interval
        outcome = SourceOutcome(source.name, "error" if failed else result.status)
        outcome.error = error or result.error
        outcome.latency = result.latency
        try:
            outcome.new_entries = store.save_result(
                source,
                result,
                feed.entries if feed and feed.is_feed else None,
                feed.title if feed else None,
                matcher,
                now,
                now + timedelta(seconds=wait),
                hashes.get(i) if not error else None,
                error,
            )
        except Exception as exc:  # one source's storage problem must not end the cycle
            log.exception("storing %s failed", source.name)
            outcome.status, outcome.error = "error", f"could not store entries: {exc}"
        outcomes.append(outcome)
    return outcomes


class EmbeddedPoller:
    """A background thread that polls on the config's interval until stopped."""

    def __init__(self, load: Callable[[], LoadedConfig], store: Store):
        self._load = load
        self._store = store
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reportwatch-poller", daemon=True)
        self.owner = poller_id()
        self.last_error: str | None = None

    def start(self) -> EmbeddedPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            interval = 60
            try:
                loaded = self._load()
                interval = loaded.config.poll_interval
                run_cycle(loaded, self._store, owner=self.owner)
                self.last_error = None
            except Exception as exc:  # keep polling: the next cycle may succeed
                log.exception("poll cycle failed")
                self.last_error = str(exc)
            # Sources come due on their own schedule; wake often enough to catch each one.
            self._stop.wait(min(interval, 5) if interval >= 5 else interval)
