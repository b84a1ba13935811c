"""Parse worker processes: same results as parsing here, and a dead worker never hangs a cycle."""

from __future__ import annotations

import pytest

from reportwatch.feeds.parse import parse_job
from reportwatch.feeds.parsepool import ParsePool, WorkerDied
from reportwatch.models import ParsedFeed
from reportwatch.poll.cycle import ParseQueue
from tests.feedserver import rss
from tests.helpers import APPLE, SHOP, TENCENT

HEADERS = {"content-type": "application/rss+xml; charset=utf-8"}


def job(body: bytes) -> tuple[bytes, dict[str, str], None, None, str]:
    return (body, HEADERS, None, None, "https://news.example/feed.xml")


def test_workers_return_what_parsing_here_returns() -> None:
    jobs = [job(rss([TENCENT, SHOP])), job(rss([APPLE])), job(b"<html>no feed</html>"), job(b"")]
    pool = ParsePool(2)
    try:
        futures = [pool.submit(j) for j in jobs]
        results = [f.result(timeout=60) for f in futures]
    finally:
        pool.shutdown()
    assert results == [parse_job(j) for j in jobs]
    for proc in pool._procs:  # idle workers end by themselves once their pipe closes
        assert proc.wait(timeout=30) == 0


def test_dead_workers_fail_their_jobs_instead_of_hanging() -> None:
    pool = ParsePool(2)
    try:
        assert pool.submit(job(rss([TENCENT]))).result(timeout=60).is_feed
        for proc in pool._procs:
            proc.kill()
            proc.wait()
        futures = [pool.submit(job(rss([APPLE]))) for _ in range(5)]
        for future in futures:
            with pytest.raises(WorkerDied):
                future.result(timeout=60)
        with pytest.raises(WorkerDied):  # once every worker is gone, at once
            pool.submit(job(rss([APPLE]))).result(timeout=0)
    finally:
        pool.shutdown()


def test_parse_queue_turns_a_dead_worker_into_a_source_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    queue_ = ParseQueue(expected=100)
    try:
        queue_.submit("good", job(rss([TENCENT])))
        assert queue_.result("good") == parse_job(job(rss([TENCENT])))
        assert queue_.pool is not None
        for proc in queue_.pool._procs:
            proc.kill()
            proc.wait()
        queue_.submit("lost", job(rss([APPLE])))
        lost = queue_.result("lost")
    finally:
        queue_.close()
    assert isinstance(lost, ParsedFeed) and not lost.is_feed
    assert lost.error is not None and lost.error.startswith("parse failed")


def test_parse_queue_parses_here_when_workers_cannot_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_processes(workers: int) -> ParsePool:
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr("os.cpu_count", lambda: 2)
    monkeypatch.setattr("reportwatch.feeds.parsepool.ParsePool", no_processes)
    queue_ = ParseQueue(expected=100)
    queue_.submit("news", job(rss([TENCENT])))
    assert queue_.pool is None and not queue_.parallel
    assert queue_.result("news") == parse_job(job(rss([TENCENT])))
    queue_.close()
