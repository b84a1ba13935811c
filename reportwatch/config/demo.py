"""`make demo`: a scratch copy of demo/ whose sample items are dated relative to now.

The bundled samples carry fixed dates (2025–2026). Served as they are, every later day shows an
empty live panel and empty trends, since those look at the last hours and days. So each start
copies demo/ into a scratch folder and moves every item's <pubDate> into the last few weeks:
the order of the items is kept, the newest is an hour old, several fall within the last day
and the last 7 days (the trends page's default range). Only the date text changes; every other
byte of the feeds is copied as it is. The copy gets a fresh SQLite file: a database kept from
an earlier start would still hold the old dates.

    python -m reportwatch.config.demo demo/.run     # prints the copy's sources.yaml
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import yaml

from reportwatch.config.settings import ConfigError, load_config

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
NEWEST_AGE = timedelta(hours=1)  # "just in" without looking like a clock error
OLDEST_AGE = timedelta(days=20)  # inside the 30-day range and the 30-day retention
# Age grows with the square of an item's rank, newest first: recent items sit close together
# (with the bundled 28, six fall within a day and sixteen within 7 days), older ones thin out.
CURVE = 2.0
MARKER = ".reportwatch-demo"  # marks a folder this module made, so a rerun may wipe it
_DB_FILES = (".db", ".db-wal", ".db-shm", ".db-journal")

# The date text of an RSS <pubDate> or <lastBuildDate>, with the whitespace around it kept.
_DATE = re.compile(rb"(<(pubDate|lastBuildDate)>\s*)([^<]*?)(\s*</\2>)")


def _parse(text: bytes) -> datetime:
    try:
        when = parsedate_to_datetime(text.decode("ascii"))
    except (UnicodeDecodeError, TypeError, ValueError):
        raise ValueError(f"not an RFC 822 date: {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)  # "-0000" means UTC


def item_dates(feed: bytes) -> list[datetime]:
    """Every item's <pubDate> in `feed`, in document order."""
    return [_parse(m[3]) for m in _DATE.finditer(feed) if m[2] == b"pubDate"]


def new_times(dates: Iterable[datetime], now: datetime) -> dict[datetime, datetime]:
    """Each original date → its new one, `now` minus NEWEST_AGE..OLDEST_AGE. Ranked over
    every feed at once, so the order of items holds across sources too; equal dates stay
    equal. A new date keeps its original UTC offset (the feeds say +0800)."""
    distinct = sorted(set(dates), reverse=True)
    last = max(len(distinct) - 1, 1)
    span = OLDEST_AGE - NEWEST_AGE
    return {
        # Whole minutes, as feeds usually give them; more than a minute apart, order holds.
        old: (now - NEWEST_AGE - span * (rank / last) ** CURVE)
        .astimezone(old.tzinfo)
        .replace(second=0, microsecond=0)
        for rank, old in enumerate(distinct)
    }


def redate(feed: bytes, times: Mapping[datetime, datetime]) -> bytes:
    """`feed` with each <pubDate> replaced from `times` and <lastBuildDate> set to its newest
    new item (a feed is rebuilt when an item is published). Nothing else changes."""
    mine = [times[d] for d in item_dates(feed)]

    def replace(m: re.Match[bytes]) -> bytes:
        if m[2] == b"pubDate":
            when = times[_parse(m[3])]
        elif mine:
            when = max(mine)
        else:  # a channel without items: nothing to be newer than
            return m[0]
        return m[1] + format_datetime(when).encode("ascii") + m[4]

    return _DATE.sub(replace, feed)


def _wipe(out: Path, source: Path) -> None:
    """Remove an earlier copy; refuse anything else (`python -m reportwatch.config.demo .` must not
    delete the checkout)."""
    if out == source or out in source.parents:
        raise ValueError(f"{out} holds the demo folder itself")
    if out.exists():
        if any(out.iterdir()) and not (out / MARKER).exists():
            raise ValueError(f"{out} is not empty and was not made by reportwatch.config.demo")
        shutil.rmtree(out)


def _config(source: Path, out: Path) -> dict[str, object]:
    """The demo's sources.yaml as seen from `out`: the copied feeds, the original reports, a
    new database in `out`, still marked as a demo."""
    loaded = load_config(source / "sources.yaml")  # validated, with paths made absolute
    data = yaml.safe_load((source / "sources.yaml").read_text(encoding="utf-8"))
    for raw, resolved in zip(data.get("sources") or [], loaded.config.sources, strict=True):
        if resolved.url.startswith("file:"):
            path = Path(url2pathname(urlsplit(resolved.url).path))
            if path.is_relative_to(source):
                path = out / path.relative_to(source)
            raw["url"] = path.as_uri()
    data["reports_dir"] = str(loaded.reports_path)
    data["database_url"] = "sqlite:///demo.db"  # relative: beside the copy's sources.yaml
    data["demo"] = True
    return data


def prepare(source: Path, out: Path, now: datetime) -> Path:
    """Copy the demo folder `source` into `out` (replacing an earlier copy), its items dated
    relative to `now`; returns the copy's sources.yaml."""
    source, out = source.resolve(), out.resolve()
    config = _config(source, out)  # first: a broken demo config leaves `out` alone
    _wipe(out, source)

    def skip(folder: str, names: list[str]) -> list[str]:
        # The copy itself (demo/.run lies inside demo/), any other copy made there (its feeds
        # would count twice) and any database of an older start.
        here = [Path(folder, n) for n in names]
        return [
            p.name for p in here if p == out or (p / MARKER).exists() or p.name.endswith(_DB_FILES)
        ]

    shutil.copytree(source, out, ignore=skip)
    (out / MARKER).touch()
    feeds = sorted(out.rglob("*.xml"))
    times = new_times((d for f in feeds for d in item_dates(f.read_bytes())), now)
    for feed in feeds:
        feed.write_bytes(redate(feed.read_bytes(), times))
    path = out / "sources.yaml"
    text = yaml.safe_dump(config, allow_unicode=True, sort_keys=False, width=100)
    made_from = source / "sources.yaml"
    header = f"# Made by `python -m reportwatch.config.demo` from {made_from}; edit that.\n"
    path.write_text(header + text, encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reportwatch.config.demo",
        description="Copy the demo feeds into OUTDIR, dated relative to now.",
    )
    parser.add_argument("outdir", type=Path, help="scratch folder, replaced on each run")
    parser.add_argument("--source", type=Path, default=DEMO_DIR, help="the demo folder")
    args = parser.parse_args(argv)
    try:
        print(prepare(args.source, args.outdir, datetime.now(UTC)))
    except ConfigError as exc:
        print(exc.describe(), file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"reportwatch.config.demo: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
