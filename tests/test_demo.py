"""`make demo` on any day: the sample items are re-dated relative to the start, so the live
panel and the trends page's default range have something to show."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from reportwatch.config.demo import main, prepare
from reportwatch.config.settings import load_config
from reportwatch.store import analysis
from reportwatch.store.core import open_store
from tests.helpers import ROOT, cli

DEMO = ROOT / "demo"
FEEDS = sorted(p.name for p in (DEMO / "feeds").glob("*.xml"))
PUB_DATE = re.compile(rb"<pubDate>([^<]*)</pubDate>")
ANY_DATE = re.compile(rb"<(pubDate|lastBuildDate)>[^<]*</\1>")


def pub_dates(feed: Path) -> list[datetime]:
    return [parsedate_to_datetime(m.decode()) for m in PUB_DATE.findall(feed.read_bytes())]


def original_and_new(out: Path) -> list[tuple[datetime, datetime]]:
    """(bundled date, prepared date) of every sample item, all feeds together."""
    pairs: list[tuple[datetime, datetime]] = []
    for name in FEEDS:
        old, new = pub_dates(DEMO / "feeds" / name), pub_dates(out / "feeds" / name)
        assert len(old) == len(new), name
        pairs += zip(old, new, strict=True)
    return pairs


@pytest.mark.parametrize(
    "now",
    [
        datetime(2030, 1, 1, tzinfo=UTC),
        datetime(2026, 11, 29, 21, 30, 17, tzinfo=UTC),
        datetime(2041, 6, 15, 3, 0, tzinfo=UTC),
    ],
)
def test_sample_dates_fall_in_the_weeks_before_now(tmp_path: Path, now: datetime) -> None:
    pairs = original_and_new(prepare(DEMO, tmp_path / "run", now).parent)
    assert len(pairs) >= 20
    ages = sorted(now - new for _, new in pairs)
    assert timedelta(minutes=30) <= ages[0] <= timedelta(hours=3)  # newest: about an hour old
    assert sum(age <= timedelta(days=1) for age in ages) >= 3  # the live panel's "just in"
    assert sum(age <= timedelta(days=7) for age in ages) >= 8  # the trends default range
    assert timedelta(days=14) <= ages[-1] <= timedelta(days=28)  # spread over 2-4 weeks


def test_items_keep_their_order_across_feeds(tmp_path: Path) -> None:
    pairs = original_and_new(
        prepare(DEMO, tmp_path / "run", datetime(2030, 1, 1, tzinfo=UTC)).parent
    )
    by_old = sorted(pairs, key=lambda pair: pair[0])
    assert [new for _, new in by_old] == sorted(new for _, new in pairs)
    # Strictly: no two samples (bundled on different days) land on the same minute.
    assert len({new for _, new in pairs}) == len({old for old, _ in pairs})


def test_only_the_dates_change(tmp_path: Path) -> None:
    out = prepare(DEMO, tmp_path / "run", datetime(2030, 1, 1, tzinfo=UTC)).parent
    for name in FEEDS:
        before, after = (DEMO / "feeds" / name).read_bytes(), (out / "feeds" / name).read_bytes()
        assert ANY_DATE.sub(b"", after) == ANY_DATE.sub(b"", before), name
        assert after.count("【示例】".encode()) == after.count(b"<item>") > 0
        built = re.search(rb"<lastBuildDate>([^<]*)</lastBuildDate>", after)
        assert built and parsedate_to_datetime(built[1].decode()) == max(
            pub_dates(out / "feeds" / name)
        )


def test_prepared_config_is_valid_and_points_at_the_copy(tmp_path: Path) -> None:
    config = prepare(DEMO, tmp_path / "run", datetime(2030, 1, 1, tzinfo=UTC))
    checked = cli("check-config", str(config))
    assert checked.returncode == 0, checked.stderr
    loaded = load_config(config)
    assert loaded.config.demo  # the 演示数据 banner stays
    assert loaded.reports_path == ROOT / "reports"
    assert loaded.config.database_url == f"sqlite:///{tmp_path / 'run' / 'demo.db'}"
    urls = [s.url for s in loaded.config.sources]
    assert urls == [(tmp_path / "run" / "feeds" / name).as_uri() for name in
                    ("huxiu-sample.xml", "36kr-sample.xml", "ithome-sample.xml")]  # fmt: skip


def test_one_poll_fills_the_trends_default_range(tmp_path: Path) -> None:
    # The command `make demo` runs, at the real current time: the parser drops dates more than
    # a day ahead of the clock, so a poll cannot be tested against a made-up `now`.
    out = tmp_path / "run"
    made = subprocess.run(
        [sys.executable, "-m", "reportwatch.config.demo", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    config = Path(made.stdout.strip())
    polled = cli("poll", "--once", config=config)
    assert polled.returncode == 0, polled.stderr
    assert (out / "demo.db").exists()

    loaded = load_config(config)
    now = datetime.now(UTC)
    store = open_store(loaded.config.database_url)
    try:
        week = analysis.tag_series(
            store, analysis.range_start("7d", now), now, "day", loaded.config.timezone
        )
        day = analysis.tag_series(
            store, analysis.range_start("1d", now), now, "hour", loaded.config.timezone
        )
    finally:
        store.close()
    assert week["count"].sum() >= 10 and week["tag"].nunique() >= 4
    assert day["count"].sum() >= 3


def test_each_start_gets_a_fresh_database(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = prepare(DEMO, out, datetime.now(UTC))
    assert cli("poll", "--once", config=config).returncode == 0
    assert (out / "demo.db").exists()
    prepare(DEMO, out, datetime.now(UTC))
    items = cli("items", "--format", "json", config=config)
    assert items.returncode == 0 and items.stdout.strip() == ""


def test_a_folder_it_did_not_make_is_never_wiped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keep = tmp_path / "notes.txt"
    keep.write_text("mine", encoding="utf-8")
    assert main([str(tmp_path)]) == 2
    assert keep.read_text(encoding="utf-8") == "mine"
    assert "not made by reportwatch.config.demo" in capsys.readouterr().err
    # Nor the folder holding the demo (`python -m reportwatch.config.demo .` from the repo root),
    # even one that looks like an earlier copy. On a copy of demo/: a bug must not cost the repo.
    outer = tmp_path / "outer"
    shutil.copytree(DEMO, outer / "demo", ignore=shutil.ignore_patterns(".run", "*.db*"))
    (outer / ".reportwatch-demo").touch()
    assert main(["--source", str(outer / "demo"), str(outer)]) == 2
    assert (outer / "demo" / "sources.yaml").exists()
