"""parse_entries over the whole feed corpus (tests/corpus.py: the shared one when present): it
never breaks its promises on real feeds, agrees with feedparser's own expected titles, and tells
HTML pages from feeds."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest

from reportwatch.feeds import parse as parse_mod
from reportwatch.feeds.parse import parse_entries, plain_text
from reportwatch.models import ParsedFeed
from reportwatch.urls import normalise_link, safe_link
from tests.corpus import (
    CORPUS,
    FEEDS,
    expectations,
    from_feedparser,
    headers,
    ids,
    runnable,
)


def _fp_key(e: Any) -> str:
    """Independent restatement of the key rule, to count feedparser's duplicates."""
    guid = (e.get("id") or "").strip()
    if guid:
        is_url = re.match(r"(?i)(https?:)?//", guid)
        return normalise_link(guid, keep_fragment=True) if is_url else guid
    link = safe_link(e.get("link"))
    if link:
        return normalise_link(link)
    content = (e.get("content") or [{}])[0].get("value", "")
    return "text:" + plain_text(e.get("title", "")) + "\n" + plain_text(e.get("summary") or content)


@pytest.mark.parametrize("path", CORPUS, ids=ids(CORPUS))
def test_corpus_file_parses(path: Path) -> None:
    body = path.read_bytes()
    served = headers(body)
    result = parse_entries(body, served)
    assert isinstance(result, ParsedFeed)
    keys = [e.key for e in result.entries]
    assert len(keys) == len(set(keys))
    for e in result.entries:
        assert e.key
        assert e.link is None or e.link.startswith(("http://", "https://"))
        assert e.published is None or e.published.utcoffset() == timedelta(0)
        assert len(e.summary) <= parse_mod.SUMMARY_MAX
        assert "\n" not in e.title and "<script" not in e.title.lower()
    fp = feedparser.parse(body, response_headers=served)
    if fp.entries:
        assert result.is_feed
        assert len(result.entries) == len({_fp_key(e) for e in fp.entries})


def title_expectations(body: bytes) -> dict[str, list[str]]:
    return {k: v for k, v in expectations(body).items() if k in ("feed.title", "entry.title")}


TITLE_CASES = [
    p
    for p in CORPUS
    if from_feedparser(p) and runnable(p.read_bytes()) and title_expectations(p.read_bytes())
]


def test_title_expectations_found() -> None:
    assert len(TITLE_CASES) >= 15


@pytest.mark.parametrize("path", TITLE_CASES, ids=ids(TITLE_CASES))
def test_feedparser_title_expectations(path: Path) -> None:
    body = path.read_bytes()
    result = parse_entries(body, headers(body))
    for target, accepted in title_expectations(body).items():
        ours = result.title if target == "feed.title" else result.entries[0].title
        # feedparser's expected value may be HTML; ours is its plain-text rendering.
        assert ours in {plain_text(v) for v in accepted}


NOT_FEEDS = [p for p in CORPUS if p.parent.name in ("parser-failed", "html-not-feed")]


@pytest.mark.parametrize("path", NOT_FEEDS, ids=ids(NOT_FEEDS))
def test_html_pages_are_not_feeds(path: Path) -> None:
    result = parse_entries(path.read_bytes(), {"content-type": "text/html"})
    assert not result.is_feed and result.entries == []
    assert result.error and "not a feed (HTML page)" in result.error


def test_real_feeds_are_feeds() -> None:
    for path in sorted((FEEDS / "rssant/parser-well").glob("*.xml")):
        result = parse_entries(path.read_bytes())
        assert result.is_feed and result.entries, path.name
