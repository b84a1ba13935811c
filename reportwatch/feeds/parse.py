"""Feed bytes → ParsedFeed: plain-text fields, stable keys, UTC dates.

Pure functions, no I/O. feedparser does the XML work on bytes that reportwatch.feeds.encoding has
repaired; this module normalises its output into models.Entry.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import feedparser

from reportwatch.feeds.encoding import repair_encoding
from reportwatch.models import Entry, ParsedFeed
from reportwatch.urls import normalise_link, safe_link

# Size limits on everything stored from a feed (issue 15). A hostile or broken feed once had a
# 9.9-million-character title stored whole, and every panel refresh sent ~10 MB to each viewer.
# Cut text ends in "…"; keys are computed from the original guid/link/title as before the cut.
TITLE_MAX = 500  # headlines run < 150 chars in the whole corpus; 500 keeps any real one whole
# 1000 chars is a full lead (several paragraphs of Chinese), which is what the tag rules match
# against; the panel shows 200 of it, the explorer, search and exports the rest. More would be
# article bodies (content:encoded), not summaries, and would change the content-hash keys of
# entries that have neither guid nor link (that hash covers the stored summary).
SUMMARY_MAX = 1000
LINK_MAX = 2048  # the common URL limit of browsers and servers; a longer link is dropped, not cut
# (a cut URL points elsewhere), and the entry still has its key from the original link
LIST_MAX = 20  # authors, categories: at most this many (the corpus' most is 27 categories)
LIST_ITEM_MAX = 200  # ... each this long; sources.name and tags are String(200) too
ENTRIES_MAX = 500  # entries kept per body: the newest, by published date, else document order.
# A live feed carries its last few dozen items; more is an archive dump (~11k chars each at most)
KEY_MAX_BYTES = 2048  # a longer key is replaced by its SHA-1 (PostgreSQL's unique index on
# (source_id, key) takes ~2.7 kB a row); every key in the corpus is < 250 bytes, so none changes
TEXT_INPUT_MAX = 200_000  # don't run the HTML stripper over megabytes to keep 1000 chars
SUMMARY_INPUT_MAX = TEXT_INPUT_MAX
FUTURE_SLACK = timedelta(days=1)  # a date further ahead than now + this is bogus → published=None

# ------------------------------------------------------------------ plain text

_SKIP_TAGS = frozenset({"script", "style", "template"})  # their contents are code, not text
_BLOCK_TAGS = frozenset(
    "br p div li ul ol tr td th table h1 h2 h3 h4 h5 h6 blockquote pre hr section article"
    " header footer dd dt img figure figcaption".split()
)  # tags that separate words: "<p>a</p><p>b</p>" → "a b", while "<b>腾</b>讯" → "腾讯"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # stray C0/C1 controls are common in CN feeds
_TAG_FALLBACK = re.compile(r"<[^>]*>?")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # one level of entity unescaping, in data only
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)

    def unknown_decl(self, data: str) -> None:
        # <![CDATA[...]]> inside HTML: keep the text, strip any markup hidden in it.
        if data.startswith("CDATA[") and not self.skipping:
            self.parts.append(plain_text(data[6:]))


def _collapse(text: str) -> str:
    return " ".join(_CONTROL.sub(" ", text).split())


def plain_text(html_text: str) -> str:
    """Markup → whitespace-collapsed plain text (script/style contents and comments dropped)."""
    if not html_text:
        return ""
    if "<" not in html_text and "&" not in html_text:
        return _collapse(html_text)
    parser = _TextExtractor()
    try:
        parser.feed(html_text)
        parser.close()
        text = "".join(parser.parts)
    except Exception:  # _markupbase raises AssertionError on some junk "<!" declarations
        text = html.unescape(_TAG_FALLBACK.sub(" ", html_text))
    return _collapse(text)


def _field_text(obj: Mapping[str, Any], name: str) -> str:
    value = obj.get(name) or ""
    detail = obj.get(name + "_detail") or {}
    # Atom type="text" is literal text: "a <b> tag" must not lose "<b>".
    return _collapse(value) if detail.get("type") == "text/plain" else plain_text(value)


# ------------------------------------------------------------------ links and keys


def _entry_key(guid: str, link: str | None, title: Callable[[], str], summary: str) -> str:
    """guid, else link, else a hash of title and summary; `link` is the original (uncut) one and
    `title` gives the whole, uncut title (called only when needed: it may be megabytes)."""
    guid = guid.strip()
    if guid:
        # A guid's fragment can be all that tells items apart (comment feeds: "#comment-12").
        is_url = re.match(r"(?i)(https?:)?//", guid)
        key = normalise_link(guid, keep_fragment=True) if is_url else guid
    elif link:
        key = normalise_link(link)
    else:
        return "sha1:" + hashlib.sha1(f"{title()}\n{summary}".encode()).hexdigest()
    encoded = key.encode("utf-8", "surrogatepass")
    return key if len(encoded) <= KEY_MAX_BYTES else "sha1:" + hashlib.sha1(encoded).hexdigest()


# ------------------------------------------------------------------ dates

# A zone at the end: +0800, -05:00, "+08" after a time, Z/GMT/UTC/CST/EDT..., "(UTC)".
_HAS_ZONE = re.compile(
    r"(?:[+-]\d{2}:?\d{2}|\d:\d{2}(?::\d{2})?(?:\.\d+)?\s*[+-]\d{2}"
    r"|(?<![A-Za-z])(?!(?:AM|PM)\s*$)[A-Za-z]{1,5}|\))\s*$",
    re.IGNORECASE,
)
# Exact zone-less formats, tried before feedparser: it reads "2016/10/26 16:53",
# "2016.10.26" and "2016年10月26日" as 2016-11-01 00:00 without complaint.
_STRICT_FORMATS = tuple(
    d + t
    for d in ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日")
    for t in (" %H:%M:%S", " %H:%M", "")
)
_YEAR_FIRST = re.compile(r"\d{4}[-/.年]")  # cheap gate: strptime is slow when it fails
_CST = re.compile(r"\sCST\s*$")  # China, US Central or Cuba: ambiguous, the source's zone decides


def _try_formats(s: str, strict: bool) -> datetime | None:
    """strict: exact zone-less formats; else what feedparser rejects, e.g. RFC 822 with no zone."""
    parsers = (
        [lambda s, f=f: datetime.strptime(s, f) for f in _STRICT_FORMATS]
        if strict
        else [parsedate_to_datetime, datetime.fromisoformat]
    )
    for parse in parsers:
        try:
            return parse(s)
        except (TypeError, ValueError, IndexError):
            continue
    return None


def _published(e: Mapping[str, Any], tz: tzinfo | None, now: datetime) -> datetime | None:
    for name in ("published", "updated", "created"):
        # dict.get: FeedParserDict.get maps updated→published with a DeprecationWarning.
        raw, parsed = dict.get(e, name) or "", dict.get(e, name + "_parsed")
        if not raw and not parsed:
            continue
        s = " ".join(str(raw).split()).replace(" ,", ",")  # "Thu , 09 Feb" trips parsedate
        if tz and _CST.search(s):
            s, parsed = _CST.sub("", s), None
        try:
            dt = _try_formats(s, strict=True) if _YEAR_FIRST.match(s) else None
            if dt is None and parsed:
                if tz and s and not _HAS_ZONE.search(s):
                    # feedparser read a zone-less date as UTC; it is local time at the source.
                    dt = datetime(*parsed[:6])
                else:
                    dt = datetime.fromtimestamp(calendar.timegm(parsed), UTC)
            dt = dt or _try_formats(s, strict=False)
            if dt is None:
                continue
            dt = (dt if dt.tzinfo else dt.replace(tzinfo=tz or UTC)).astimezone(UTC)
        except (ValueError, OverflowError, OSError):
            continue
        return dt if dt <= now + FUTURE_SLACK else None
    return None


# ------------------------------------------------------------------ feed

_HTML_HINT = re.compile(rb"<(?:!doctype\s+html|html|head|body|meta|title|p|div|br|script)\b")
_FEED_HINT = re.compile(rb"<(?:[\w-]+:)?(?:rss|feed|rdf|channel)\b")


def _looks_like_html(body: bytes) -> bool:
    head = body[:4096].lower()
    return bool(_HTML_HINT.search(head)) and not _FEED_HINT.search(head)


def _bozo_message(d: Mapping[str, Any]) -> str | None:
    exc = d.get("bozo_exception")
    if not d.get("bozo") or exc is None:
        return None
    return f"{type(exc).__name__}: {exc}"[:200]


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _capped_list(values: Iterable[object]) -> list[str]:
    """Plain text of each value, cut to LIST_ITEM_MAX; empty and repeated ones skipped; at most
    LIST_MAX (the rest are never read: 1000 categories cost as little as 20)."""
    out: dict[str, None] = {}
    for value in values:
        text = _truncate(plain_text(str(value or "")[:TEXT_INPUT_MAX]), LIST_ITEM_MAX)
        if text:
            out[text] = None
            if len(out) >= LIST_MAX:
                break
    return list(out)


def _title(obj: Mapping[str, Any], *, whole: bool = False) -> str:
    """The plain-text title; cut to TITLE_MAX unless `whole` (what the content-hash key reads)."""
    value = obj.get("title") or ""
    if whole or len(value) <= TEXT_INPUT_MAX:
        text = _field_text(obj, "title")
    else:  # stripping megabytes of markup takes seconds; TITLE_MAX needs far less input
        text = _field_text({**obj, "title": value[:TEXT_INPUT_MAX]}, "title")
    return text if whole else _truncate(text, TITLE_MAX)


def _entry(e: Mapping[str, Any], base: str | None, tz: tzinfo | None, now: datetime) -> Entry:
    title = _title(e)
    raw, kind = e.get("summary") or "", (e.get("summary_detail") or {}).get("type")
    if not raw and e.get("content"):
        raw, kind = e["content"][0].get("value") or "", e["content"][0].get("type")
    raw = raw[:SUMMARY_INPUT_MAX]
    summary = _truncate(_collapse(raw) if kind == "text/plain" else plain_text(raw), SUMMARY_MAX)
    link = safe_link(e.get("link"), base)
    authors = [a.get("name") or "" for a in e.get("authors") or [] if isinstance(a, Mapping)]
    tags = (t.get("term") or t.get("label") or "" for t in e.get("tags") or [])
    return Entry(
        # The key reads the original link and whole title, so cutting never changes a key.
        key=_entry_key(e.get("id") or "", link, lambda: _title(e, whole=True), summary),
        title=title,
        summary=summary,
        link=link if link is None or len(link) <= LINK_MAX else None,
        published=_published(e, tz, now),
        authors=_capped_list(authors or [e.get("author") or ""]),
        categories=_capped_list(tags),
    )


def _newest(entries: list[Entry], limit: int) -> list[Entry]:
    """At most `limit` entries: the newest by published date (dated before undated), ties and
    undated ones by document order (feeds list newest first); kept in document order."""
    if len(entries) <= limit:
        return entries
    order = sorted(
        range(len(entries)),
        key=lambda i: (entries[i].published is None, -_timestamp(entries[i].published), i),
    )
    return [entries[i] for i in sorted(order[:limit])]


def _timestamp(when: datetime | None) -> float:
    return when.timestamp() if when else 0.0


def parse_entries(
    body: bytes,
    headers: Mapping[str, str] | None = None,
    *,
    source_timezone: str | None = None,
    encoding: str | None = None,
    base_url: str | None = None,
) -> ParsedFeed:
    """Parse raw feed bytes (+ HTTP headers, for the charset). Never raises."""
    try:
        return _parse(body, headers, source_timezone, encoding, base_url)
    except Exception as exc:  # a broken feed must never take the poller down
        msg = f"parse failed: {type(exc).__name__}: {exc}"[:200]
        return ParsedFeed(title="", entries=[], is_feed=False, error=msg)


def _parse(
    body: bytes,
    headers: Mapping[str, str] | None,
    tz_name: str | None,
    forced: str | None,
    base_url: str | None,
) -> ParsedFeed:
    if not body or not body.strip():
        return ParsedFeed(title="", entries=[], is_feed=False, error="not a feed (empty document)")
    data, hdrs, note = repair_encoding(body, headers, forced)
    # We keep only plain text, so rewriting URIs inside content HTML is wasted work (~25%).
    # The sanitiser stays on: it copes with hostile markup better than plain_text alone.
    d = feedparser.parse(data, response_headers=hdrs or None, resolve_relative_uris=False)
    if not d.get("version") and not d.entries:
        kind = "HTML page" if _looks_like_html(data) else "no RSS/Atom root element"
        return ParsedFeed(title="", entries=[], is_feed=False, error=f"not a feed ({kind})")
    tz: tzinfo | None = None
    if tz_name:
        try:
            tz = ZoneInfo(tz_name)
        except Exception:  # bad config: keep the entries, read dates as UTC, say so
            note = f"unknown source_timezone {tz_name!r}"
    base = safe_link(d.feed.get("link"), base_url) or safe_link(base_url)
    now = datetime.now(UTC)
    entries: list[Entry] = []
    seen: set[str] = set()
    for raw_entry in d.entries:
        entry = _entry(raw_entry, base, tz, now)
        if entry.key not in seen:  # duplicate keys within one feed: keep the first
            seen.add(entry.key)
            entries.append(entry)
    entries = _newest(entries, ENTRIES_MAX)
    title = _title(d.feed)
    return ParsedFeed(title=title, entries=entries, is_feed=True, error=_bozo_message(d) or note)


ParseJob = tuple[bytes, Mapping[str, str], str | None, str | None, str | None]


def parse_job(job: ParseJob) -> ParsedFeed:
    """parse_entries on a picklable tuple: what worker processes run (imports only this module)."""
    body, headers, tz, encoding, url = job
    return parse_entries(body, headers, source_timezone=tz, encoding=encoding, base_url=url)
