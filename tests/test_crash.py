"""Crash safety: `kill -9` of a worker mid-cycle loses nothing, duplicates nothing, and the next
clean cycle still polls every source; several pollers on one SQLite file never collide."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from reportwatch.poll.cycle import PARALLEL_PARSE_MIN
from tests.browser import chromium, open_app, streamlit_server
from tests.feedserver import FeedServer, rss
from tests.helpers import ROOT, cli, write_config

FEEDS = 16
WINDOW = 120  # items a feed shows at a time
STEP = 30  # new items per feed per round; the oldest ones rotate out of the feed


def feed_items(feed: int, round_: int) -> list[dict[str, object]]:
    first = round_ * STEP
    return [
        {
            "title": f"{'腾讯' if n % 3 == 0 else '行业'}快讯 {feed}-{n}",
            "link": f"https://news.example/{feed}/{n}",
            "guid": f"f{feed}-{n}",
            "description": f"第 {n} 条。" + "视频号小店与 Tencent 的观察。" * 20,
            "pubDate": f"Tue, 25 Nov 2025 {n % 24:02d}:{n % 60:02d}:00 +0800",
        }
        for n in range(first + WINDOW - 1, first - 1, -1)
    ]


def serve_round(server: FeedServer, round_: int, delay: float = 0.3) -> None:
    for feed in range(FEEDS):
        server.set_feed(f"/f{feed}.xml", rss(feed_items(feed, round_)), delay=delay)


def served_keys(round_: int) -> set[tuple[str, str]]:
    return {(f"src{f}", str(i["guid"])) for f in range(FEEDS) for i in feed_items(f, round_)}


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Wait for a real condition, checking often, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.01)  # the check interval, not a synchronisation guess


def query(db: Path, sql: str) -> list[tuple[object, ...]]:
    """Use the database the way another tool would, never holding it open."""
    if not db.exists():
        return []
    conn = sqlite3.connect(db, timeout=30)
    try:
        with conn:
            return conn.execute(sql).fetchall()
    except sqlite3.OperationalError as exc:  # killed before the schema was committed
        if "no such table" in str(exc):
            return []
        raise
    finally:
        conn.close()


def stored_keys(db: Path) -> set[tuple[str, str]]:
    rows = query(db, "SELECT s.name, e.key FROM entries e JOIN sources s ON s.id = e.source_id")
    return {(str(name), str(key)) for name, key in rows}


def entry_count(db: Path) -> int:
    rows = query(db, "SELECT count(*) FROM entries")
    return int(rows[0][0]) if rows else 0


def requests_seen(server: FeedServer) -> list[int]:
    return [len(server.requests(f"/f{feed}.xml")) for feed in range(FEEDS)]


def watch(config: Path, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "reportwatch.cli", "poll", "--watch", "--config", str(config)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("wb"),
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def kill_point_or_exit(
    reached: Callable[[dict[str, object]], bool],
    before: dict[str, object],
    worker: subprocess.Popen[bytes],
) -> bool:
    return reached(before) or worker.poll() is not None


def assert_consistent(db: Path) -> None:
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    duplicates = query(
        db,
        "SELECT source_id, key, count(*) FROM entries GROUP BY source_id, key HAVING count(*) > 1",
    )
    assert duplicates == []
    # An entry is flagged matched exactly when it has match rows (written in one transaction).
    torn = query(
        db,
        "SELECT count(*) FROM entries e "
        "WHERE e.matched != EXISTS (SELECT 1 FROM matches m WHERE m.entry_id = e.id)",
    )
    assert torn in ([], [(0,)])


def test_kill_9_mid_cycle_loses_and_duplicates_nothing(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    serve_round(feed_server, 0)
    sources = [{"name": f"src{f}", "url": feed_server.url(f"/f{f}.xml")} for f in range(FEEDS)]
    config = write_config(tmp_path, sources, poll_interval=5, fetch={"per_host": 4, "timeout": 10})
    db = tmp_path / "reportwatch.db"
    wal = tmp_path / "reportwatch.db-wal"

    def wal_size() -> int:
        return wal.stat().st_size if wal.exists() else 0

    # Each round kills the worker at a different point of its cycle.
    kill_points: list[tuple[str, Callable[[dict[str, object]], bool]]] = [
        ("the database file appears", lambda b: db.exists() and db.stat().st_size > 0),
        ("the server sees a request", lambda b: sum(requests_seen(feed_server)) > b["seen"]),
        ("stored entries grow", lambda b: entry_count(db) > b["entries"]),
        ("the WAL grows by 32 KiB", lambda b: wal_size() > b["wal"] + 32 * 1024),
        (
            "every feed was fetched",
            lambda b: all(
                n > m for n, m in zip(requests_seen(feed_server), b["per_feed"], strict=True)
            ),
        ),
    ]
    committed: set[tuple[str, str]] = set()
    for round_, (what, reached) in enumerate(kill_points):
        serve_round(feed_server, round_)
        before = {
            "seen": sum(requests_seen(feed_server)),
            "per_feed": requests_seen(feed_server),
            "entries": entry_count(db),
            "wal": wal_size(),
        }
        log = tmp_path / f"watch{round_}.log"
        worker = watch(config, log)
        try:
            wait_until(partial(kill_point_or_exit, reached, before, worker), what)
            assert worker.poll() is None, log.read_text()  # it must not end on its own
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
        assert worker.returncode == -signal.SIGKILL
        # Whatever was committed before the kill must survive every later round.
        now_stored = stored_keys(db)
        assert committed <= now_stored, f"round {round_} ({what}) lost entries"
        committed = now_stored
        assert_consistent(db)
        # Make every source due again, as if the poll interval had passed.
        query(db, "UPDATE sources SET next_due = NULL")

    # The killed workers' leases must not block the clean cycle.
    result = cli("poll", "--once", config=config)
    assert result.returncode == 0, result.stderr
    assert "polled 16 source(s)" in result.stderr, result.stderr
    assert_consistent(db)
    final = stored_keys(db)
    assert committed <= final
    assert served_keys(len(kill_points) - 1) <= final  # everything served now is stored
    failed = "SELECT count(*) FROM sources WHERE status IS NULL OR status = 'error'"
    assert query(db, failed) == [(0,)]
    assert query(db, "SELECT count(*) FROM sources WHERE lease_owner IS NOT NULL") == [(0,)]


def child_processes(parent: int) -> list[int]:
    """Live (not zombie) processes whose parent is `parent`, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError):
            continue
        if int(ppid) == parent and state != "Z":
            found.append(int(stat.parent.name))
    return found


def is_running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_kill_9_leaves_no_parse_workers_behind(feed_server: FeedServer, tmp_path: Path) -> None:
    """Past PARALLEL_PARSE_MIN changed feeds a worker parses in child processes; killing the
    worker must not leave them running (they cannot be told to stop)."""
    count = PARALLEL_PARSE_MIN + 5
    for feed in range(count):
        feed_server.set_feed(f"/f{feed}.xml", rss(feed_items(feed, 0)), delay=0.2)
    sources = [{"name": f"src{f}", "url": feed_server.url(f"/f{f}.xml")} for f in range(count)]
    config = write_config(tmp_path, sources, poll_interval=5, fetch={"per_host": 4})
    worker = watch(config, tmp_path / "watch.log")
    try:
        wait_until(lambda: len(child_processes(worker.pid)) >= 2, "parse workers started")
        children = child_processes(worker.pid)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    wait_until(lambda: not any(map(is_running, children)), "orphaned workers exit", timeout=20)


def test_two_workers_and_the_embedded_poller_share_one_database(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    serve_round(feed_server, 0, delay=0.1)
    sources = [{"name": f"src{f}", "url": feed_server.url(f"/f{f}.xml")} for f in range(FEEDS)]
    config = write_config(
        tmp_path, sources, poll_interval=5, ui_refresh=1, fetch={"per_host": 4, "timeout": 10}
    )
    db = tmp_path / "reportwatch.db"
    logs = [tmp_path / "worker0.log", tmp_path / "worker1.log"]
    with streamlit_server(config) as base, chromium() as browser:
        workers = [watch(config, log) for log in logs]
        try:
            page = open_app(browser, base + "/")  # the page starts the embedded poller
            wait_until(lambda: stored_keys(db) >= served_keys(0), "round 0 stored")
            serve_round(feed_server, 1, delay=0.1)  # due again after poll_interval
            wait_until(lambda: stored_keys(db) >= served_keys(1), "round 1 stored")
            page.get_by_text("行业快讯 0-").first.wait_for(timeout=30_000)
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            codes = [worker.wait(timeout=30) for worker in workers]
        log_text = (tmp_path / "streamlit.log").read_text(errors="replace")
    worker_logs = [log.read_text(errors="replace") for log in logs]
    assert codes == [0, 0], worker_logs
    for text in worker_logs + [log_text]:
        assert "locked" not in text.lower(), text
        assert "Traceback" not in text, text
    assert_consistent(db)
    # A source is never fetched by two pollers at once.
    for feed in range(FEEDS):
        assert feed_server.max_concurrency(f"/f{feed}.xml") == 1
    triggers = {t for (t,) in query(db, "SELECT DISTINCT trigger FROM poll_runs")}
    assert "cli" in triggers
