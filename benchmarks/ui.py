"""The live panel at scale, beside the targets of the live-panel issue.

    python benchmarks/ui.py [--entries 1000000] [--matches 100000] [--skip-browser]

Prints: one panel refresh (queries + data preparation, median of 30), the first full page run
(AppTest, cold caches), server memory after it, and (unless --skip-browser) how long a new item
on a local feed takes to appear in headless Chromium, against poll_interval + ui_refresh + 1 s.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reportwatch.config.reports import load_reports  # noqa: E402
from reportwatch.match.matcher import highlight_spans  # noqa: E402
from reportwatch.store.core import open_store  # noqa: E402
from reportwatch.store.queries import (  # noqa: E402
    count_new,
    data_version,
    fresh_counts,
    last_success,
    matched_items,
    next_due,
    source_health,
    tag_counts,
)
from reportwatch.ui.panel import panel_status  # noqa: E402
from tests.helpers import write_config  # noqa: E402

TAGS = load_reports(ROOT / "reports").reports[0].tags  # the shipped report's tags


def fill(db: Path, n_entries: int, n_matches: int, n_sources: int = 50) -> None:
    """Write rows straight through sqlite3: building a big store through cycles takes too long."""
    open_store(f"sqlite:///{db}").close()  # schema and migrations
    conn = sqlite3.connect(db)
    now = datetime.now(UTC).replace(tzinfo=None)
    iso = lambda t: t.isoformat(sep=" ")  # noqa: E731
    conn.executemany(
        "INSERT INTO sources (name, url, enabled, status, last_checked, last_ok, failures,"
        " next_due, entries) VALUES (?, ?, 1, 'ok', ?, ?, 0, ?, 0)",
        [(f"源{i}", f"https://feeds.example/{i}.xml", iso(now), iso(now),
          iso(now + timedelta(seconds=300))) for i in range(n_sources)],
    )  # fmt: skip
    rng = random.Random(7)
    matched = set(rng.sample(range(n_entries), n_matches))
    batch, match_rows = [], []
    for i in range(n_entries):
        t = now - timedelta(minutes=i)
        is_match = i in matched
        title = f"第{i}条 腾讯视频号动态" if is_match else f"第{i}条"
        batch.append((i % n_sources + 1, f"k{i}", title,
                      "摘要" * 20, f"https://news.example/{i}", iso(t), iso(t), iso(t), iso(t),
                      "", "", int(is_match)))  # fmt: skip
        if is_match:
            for tag in rng.sample(TAGS, rng.randint(1, 2)):
                match_rows.append((i + 1, tag, 3.0, '[["腾讯", "title"]]', iso(t), iso(t)))
        if len(batch) >= 50_000:
            _flush(conn, batch, match_rows)
    _flush(conn, batch, match_rows)
    conn.commit()
    conn.close()
    store = open_store(f"sqlite:///{db}")
    store.index_pending()  # search-index the rows, as a poller does after its cycle
    store.close()


def _flush(conn: sqlite3.Connection, batch: list, match_rows: list) -> None:
    conn.executemany(
        "INSERT INTO entries (source_id, key, title, summary, link, published, first_seen,"
        " updated_at, sort_time, authors, categories, matched) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        batch,
    )
    conn.executemany(
        "INSERT INTO matches (entry_id, tag, score, hits, sort_time, first_seen)"
        " VALUES (?,?,?,?,?,?)",
        match_rows,
    )
    batch.clear()
    match_rows.clear()


def panel_refresh(store, tags: list[str], counts_cached: bool) -> None:
    """Everything one refresh of the panel reads and prepares, as views.render_panel does.

    Counts over every match are cached per data version (they change when a cycle ends), so a
    refresh usually only reads the version; right after a cycle it recomputes them."""
    now = datetime.now(UTC)
    health = source_health(store)
    panel_status(now, last_success(store), next_due(store), 300, health, True, len(health))
    count_new(store, now - timedelta(hours=1), tags)
    data_version(store)
    if not counts_cached:
        tag_counts(store)
        fresh_counts(store, datetime(2025, 7, 30, tzinfo=UTC), tags)
    items = matched_items(store, tags=tags, limit=20)
    [highlight_spans(i.summary[:200], i.keywords) for i in items]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--matches", type=int, default=100_000)
    parser.add_argument("--skip-browser", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = folder / "reportwatch.db"
        start = time.perf_counter()
        fill(db, args.entries, args.matches)
        print(f"store: {args.entries:,} entries, {args.matches:,} matched "
              f"(built in {time.perf_counter() - start:.0f} s)")  # fmt: skip
        store = open_store(f"sqlite:///{db}")
        cases = [("all report tags", TAGS, True), ("?tag=腾讯", ["腾讯"], True),
                 ("right after a cycle, counts recomputed", TAGS, False)]  # fmt: skip
        for label, tags, cached in cases:
            times = []
            for _ in range(30):
                start = time.perf_counter()
                panel_refresh(store, tags, cached)
                times.append((time.perf_counter() - start) * 1000)
            print(f"panel refresh ({label}): median {statistics.median(times):.1f} ms, "
                  f"max {max(times):.1f} ms   limit 100 ms median")  # fmt: skip
        config = write_config(folder, [], embedded_poller=False)
        os.environ["REPORTWATCH_CONFIG"] = str(config)
        from streamlit.testing.v1 import AppTest

        start = time.perf_counter()
        app = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
        first = time.perf_counter() - start
        assert not app.exception, app.exception
        start = time.perf_counter()
        AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
        warm = time.perf_counter() - start
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"first full page run: {first:.2f} s (next session {warm:.2f} s)   limit 1 s")
        print(f"server memory (peak RSS of this process): {rss:.0f} MB   limit 400 MB")
    if not args.skip_browser:
        from benchmarks.ui_latency import new_item_latency

        seen, limit = new_item_latency()
        print(f"new item on screen after {seen:.1f} s   limit poll_interval + ui_refresh + 1 = "
              f"{limit:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
