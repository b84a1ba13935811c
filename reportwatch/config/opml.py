"""OPML in and out, as pure functions.

OPML comes from other people's feed readers, so it is hostile input: defusedxml refuses entity
declarations (billion laughs) and external entities, and the size is capped. Real-world files
nest outlines in folders, leave out titles, spell `xmlUrl` in odd cases, use `feed://` URLs and
list one feed twice; all of that is handled here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.etree.ElementTree import Element, ParseError, SubElement, tostring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from reportwatch.urls import host_of, normalise_url, url_key

MAX_BYTES = 5 * 1024 * 1024
MAX_FEEDS = 5000
MAX_TITLE = 200  # sources.name is String(200)
_SPACE = re.compile(r"\s+")
_DECLARED = re.compile(rb"^(\xef\xbb\xbf)?<\?xml[^>]*encoding=[\"']([A-Za-z0-9_.-]+)[\"'][^>]*\?>")


class OpmlError(ValueError):
    """The file is not OPML we can read (message says why)."""


@dataclass(frozen=True)
class OpmlFeed:
    title: str
    url: str


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1].lower()  # namespaces and odd cases seen in the wild


def clean_title(text: str | None) -> str:
    """One line of printable text, at most MAX_TITLE characters."""
    if not text:
        return ""
    kept = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in text)
    return _SPACE.sub(" ", kept).strip()[:MAX_TITLE]


def dedupe(feeds: Iterable[OpmlFeed]) -> list[OpmlFeed]:
    """The first of each URL, in document order."""
    seen: set[str] = set()
    unique = []
    for feed in feeds:
        key = url_key(feed.url)
        if key not in seen:
            seen.add(key)
            unique.append(feed)
    return unique


def _reencode(data: bytes) -> bytes:
    """expat reads only UTF-8/16 and Latin-1: re-encode e.g. a GBK file as UTF-8."""
    found = _DECLARED.match(data)
    if not found:
        return data
    encoding = found.group(2).decode("ascii")
    try:
        text = data[found.end() :].decode(encoding)
    except (LookupError, UnicodeDecodeError) as exc:
        raise OpmlError(f"cannot decode the file as {encoding}") from exc
    return b'<?xml version="1.0" encoding="utf-8"?>' + text.encode("utf-8")


def parse_opml(data: bytes) -> list[OpmlFeed]:
    """Every feed outline (at any depth), deduplicated by URL; titles fall back to the host."""
    if len(data) > MAX_BYTES:
        raise OpmlError(f"the file is larger than {MAX_BYTES // 1024 // 1024} MiB")
    try:
        root = fromstring(_reencode(data), forbid_dtd=False)
    except DefusedXmlException as exc:
        raise OpmlError("the file declares XML entities, which are refused") from exc
    except ParseError as exc:
        raise OpmlError(f"not well-formed XML: {exc}") from exc
    if _local(root.tag) != "opml":
        raise OpmlError("not an OPML file (the root element is not <opml>)")
    feeds = []
    for element in root.iter():
        if _local(element.tag) != "outline":
            continue
        attrs = {k.lower(): v for k, v in element.attrib.items()}
        url = normalise_url(attrs.get("xmlurl") or "")
        if not url:
            continue  # a folder, or a plain link without a feed
        title = clean_title(attrs.get("title")) or clean_title(attrs.get("text"))
        feeds.append(OpmlFeed(title or host_of(url), url))
    unique = dedupe(feeds)
    if len(unique) > MAX_FEEDS:
        raise OpmlError(f"more than {MAX_FEEDS} feeds in one file")
    return unique


def build_opml(feeds: Iterable[tuple[str, str]], title: str = "reportwatch sources") -> bytes:
    """OPML 2.0 with one outline per (name, url)."""
    root = Element("opml", version="2.0")
    head = SubElement(root, "head")
    SubElement(head, "title").text = title
    SubElement(head, "dateCreated").text = format_datetime(datetime.now(UTC))
    body = SubElement(root, "body")
    for name, url in feeds:
        name = clean_title(name)  # control characters are not allowed in XML
        SubElement(body, "outline", type="rss", text=name, title=name, xmlUrl=url)
    return tostring(root, encoding="utf-8", xml_declaration=True)
