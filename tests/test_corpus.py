"""Every real-world feed of the corpus (tests/corpus.py: ../shared/feeds when present, else the
repository's copy in tests/data/feeds), served over HTTP and polled in one cycle."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from reportwatch.config.settings import load_config
from reportwatch.feeds.parse import parse_entries, plain_text
from reportwatch.poll.cycle import run_cycle
from reportwatch.store.core import Store, open_store
from reportwatch.store.queries import source_health
from reportwatch.store.schema import entries
from reportwatch.store.schema import sources as source_table
from tests.corpus import FEEDS, expectations, from_feedparser, runnable
from tests.feedserver import FeedServer, rss
from tests.helpers import ROOT, write_config

HEADER = re.compile(rb"Header:\s*Content-type:\s*([^\r\n]+?)\s*(?:-->|\r?\n)", re.IGNORECASE)


def content_type(body: bytes) -> str:
    """feedparser's http_* cases name the Content-Type they were served with."""
    found = HEADER.search(body[:2000])
    return found.group(1).decode("ascii", "replace").strip() if found else "text/xml"


def test_every_corpus_feed_completes_one_cycle(feed_server: FeedServer, tmp_path: Path) -> None:
    files = sorted(p for p in FEEDS.rglob("*.xml"))
    assert len(files) >= 300
    sources = []
    for i, path in enumerate(files):
        body = path.read_bytes()
        rel = path.relative_to(FEEDS).as_posix()
        feed_server.set_feed(f"/{rel}", body, content_type=content_type(body))
        sources.append({"name": f"{i:03d} {rel}", "url": feed_server.url(f"/{rel}")})
    config = write_config(tmp_path, sources, fetch={"per_host": 50, "concurrency": 50})
    loaded = load_config(config)
    store = open_store(loaded.config.database_url)
    report = run_cycle(loaded, store, force=True)
    assert len(report.outcomes) == len(files)
    health = {h.name: h for h in source_health(store)}
    assert all(h.status in ("ok", "error") for h in health.values())
    for source, path in zip(sources, files, strict=True):
        body = path.read_bytes()
        expected = parse_entries(body, {"content-type": content_type(body)})
        row = health[source["name"]]
        if expected.is_feed:
            # Entries are stored wherever the parser finds them, each exactly once.
            assert row.status == "ok", (path, row.error)
            assert row.entries == len(expected.entries), path
        else:
            assert row.status == "error" and "not a feed" in (row.error or ""), path
    html_pages = [h for h in health.values() if "not a feed (HTML page)" in (h.error or "")]
    assert len(html_pages) >= 12  # rssant's parser-failed pages are HTML served as feeds
    assert stored_texts_meet_expectations(store, sources, files) >= 60  # 10 of them encodings


def stored_texts_meet_expectations(
    store: Store, sources: list[dict[str, str]], files: list[Path]
) -> int:
    """What the cycle stored must be the text feedparser's `Expect:` lines name, in the right
    encoding (their value may be HTML; ours is its plain text). Returns how many were checked."""
    checked = 0
    with store.engine.connect() as conn:
        for source, path in zip(sources, files, strict=True):
            body = path.read_bytes()
            expected = expectations(body) if from_feedparser(path) and runnable(body) else {}
            if not expected:
                continue
            row = conn.execute(
                select(source_table.c.id, source_table.c.feed_title).where(
                    source_table.c.name == source["name"]
                )
            ).one()
            first = conn.execute(
                select(entries.c.title, entries.c.summary)
                .where(entries.c.source_id == row.id)
                .order_by(entries.c.id)
                .limit(1)
            ).first()
            stored = {
                "feed.title": row.feed_title or "",
                "entry.title": first.title if first else "",
                "entry.summary": first.summary if first else "",
            }
            for target, accepted in expected.items():
                texts = {plain_text(v) for v in accepted} | {" ".join(v.split()) for v in accepted}
                assert stored[target] in texts, (path, target, stored[target], accepted)
                checked += 1
    return checked


def test_watch_mode_polls_until_sigterm(feed_server: FeedServer, tmp_path: Path) -> None:
    item = {"title": "腾讯新闻", "link": "https://news.example/w", "guid": "w"}
    feed_server.set_feed("/feed.xml", rss([item]))
    config = write_config(
        tmp_path, [{"name": "w", "url": feed_server.url("/feed.xml")}], poll_interval=5
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "reportwatch.cli", "poll", "--watch", "--config", str(config)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        # The first cycle's summary line tells us it polled; then stop it like a supervisor would.
        line = process.stderr.readline()
        assert "polled 1 source(s)" in line
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    store = open_store(load_config(config).config.database_url)
    (row,) = source_health(store)
    assert row.status == "ok" and row.entries == 1
