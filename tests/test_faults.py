"""Network faults, all at once in one cycle: it ends on time, in bounded memory, and every
source says what went wrong while the good feed is stored."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from reportwatch.config.settings import load_config
from reportwatch.store.core import open_store
from reportwatch.store.queries import matched_items, source_health
from tests.faults import black_hole, fault_errors, serve_faults
from tests.feedserver import FeedServer
from tests.helpers import ROOT, TENCENT, cli, json_lines, write_config

TIMEOUT = 2.0  # fetch.timeout for the cycle; the whole cycle must end within TIMEOUT + SLACK
SLACK = 5.0
MAX_BYTES = 1 << 20

FAULTS = fault_errors(TIMEOUT, MAX_BYTES)

# Runs `reportwatch poll --once` in this process and reports its peak RSS growth and duration.
MEASURE = """
import json, resource, sys, time
import reportwatch.cli, reportwatch.poll.cycle  # imports are the baseline, not the growth
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.monotonic()
code = reportwatch.cli.main(sys.argv[1:])
seconds = time.monotonic() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"code": code, "seconds": seconds, "growth_kib": peak - base}))
"""


def test_every_fault_at_once_ends_on_time_in_bounded_memory(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    fetch = {"timeout": TIMEOUT, "connect_timeout": 1, "max_bytes": MAX_BYTES, "per_host": 20}
    with black_hole() as hole:
        config = write_config(tmp_path, serve_faults(feed_server, hole, MAX_BYTES), fetch=fetch)
        run = subprocess.run(
            [sys.executable, "-c", MEASURE, "poll", "--once", "--config", str(config)],
            capture_output=True, text=True, cwd=ROOT, timeout=120,
        )  # fmt: skip
    assert run.returncode == 0, run.stderr
    measured = json.loads(run.stdout.splitlines()[-1])
    assert measured["code"] == 0, run.stderr  # feeds failing is not the command failing
    assert measured["seconds"] < TIMEOUT + SLACK, measured
    assert measured["growth_kib"] < 300 * 1024, measured  # a 1 GiB bomb must not be inflated
    assert "Traceback" not in run.stderr

    result = cli("sources", "--format", "json", config=config)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json_lines(result.stdout)}
    assert set(rows) == {"good", *FAULTS}
    assert rows["good"]["status"] == "ok" and rows["good"]["error"] is None
    for name, words in FAULTS.items():
        row = rows[name]
        assert row["status"] == "error", (name, row)
        assert words in (row["error"] or ""), (name, row["error"])
        assert row["last_checked"] and row["entries"] == 0

    loaded = load_config(config)
    store = open_store(loaded.config.database_url)
    assert [i.title for i in matched_items(store)] == [TENCENT["title"]]
    health = {h.name: h for h in source_health(store)}
    # Retry-After is honoured: the 429 source is left alone for 15 minutes.
    busy = health["http-429"]
    assert busy.next_due - busy.last_checked >= timedelta(seconds=899)
    # The drip and the reset were cut off, not left hanging on the server.
    assert len(feed_server.requests("/slow-drip")) == 1
    assert len(feed_server.requests("/redirect-loop-b")) == 1
