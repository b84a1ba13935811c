"""Records passed between the pipeline stages (fetch → parse → match → store)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

FetchStatus = Literal["ok", "not_modified", "error"]


@dataclass(frozen=True)
class FetchState:
    """What we remember about a source between fetches (conditional GET, change detection)."""

    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None


@dataclass
class FetchResult:
    """The outcome of fetching one source. `body` is the raw (decompressed) bytes."""

    name: str
    url: str
    status: FetchStatus
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    http_status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    permanent_redirect: str | None = None  # new URL when a 301/308 was followed
    error: str | None = None
    retry_after: float | None = None  # seconds, from a 429/503 Retry-After header
    latency: float = 0.0
    nbytes: int = 0


@dataclass
class Entry:
    """One feed item, normalised: plain text only, http(s) links only, times in UTC."""

    key: str
    title: str
    summary: str
    link: str | None
    published: datetime | None  # UTC, None when the feed gave no usable date
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)


@dataclass
class ParsedFeed:
    title: str
    entries: list[Entry]
    is_feed: bool  # False for an HTML page or other non-feed served at the address
    error: str | None = None  # a parser complaint worth showing (bozo exception text)
