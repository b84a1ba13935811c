"""Adding sources from the UI: URL checks and merging into sources.yaml without losing comments.

A URL typed or imported in the browser must be http(s) and, unless the configuration sets
`allow_private_sources`, resolve only to public addresses: otherwise the dashboard would let
anyone make the server fetch from its own network (SSRF). The check resolves the host now;
the fetcher runs later, so this is a first gate, not a guarantee against DNS rebinding.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
from ruamel.yaml.error import YAMLError

from reportwatch.config import ConfigError, parse_config
from reportwatch.i18n import t
from reportwatch.opml import OpmlFeed, clean_title, host_of, url_key
from reportwatch.yamledit import YamlEditError, append_sources, existing_sources

Resolver = Callable[..., list[Any]]


@dataclass(frozen=True)
class Verdict:
    feed: OpmlFeed
    status: str  # "new", "duplicate" or "refused"
    reason: str = ""  # i18n key for refusals
    detail: str = ""
    name: str = ""  # the source name it got in the file (made unique)

    @property
    def ok(self) -> bool:
        return self.status == "new"


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    return ip.is_global and not ip.is_multicast


def check_url(
    url: str, allow_private: bool, resolve: Resolver = socket.getaddrinfo
) -> tuple[str, str] | None:
    """None when the URL may be added, else (i18n reason key, detail)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "refuse_bad_url", url
    if parts.scheme.lower() not in ("http", "https"):
        return "refuse_scheme", parts.scheme or "—"
    host = parts.hostname
    if not host:
        return "refuse_bad_url", url
    if allow_private:
        return None
    default = 443 if parts.scheme.lower() == "https" else 80
    try:
        infos = resolve(host, port or default, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        return "refuse_unresolved", host  # cannot tell that it is public
    addresses = {info[4][0] for info in infos}
    if not addresses:
        return "refuse_unresolved", host
    private = sorted(a for a in addresses if not _public(a))
    if private:
        return "refuse_private", f"{host} → {', '.join(private)}"
    return None


def unique_name(wanted: str, taken: set[str]) -> str:
    name = wanted or "feed"
    n = 2
    while name in taken:
        suffix = f" ({n})"
        name = wanted[: 200 - len(suffix)] + suffix
        n += 1
    return name


def plan(
    feeds: Sequence[OpmlFeed], existing_urls: Sequence[str], allow_private: bool,
    resolve: Resolver = socket.getaddrinfo,
) -> list[Verdict]:  # fmt: skip
    """What merging `feeds` would do to each (host lookups run in parallel)."""
    known = {url_key(u) for u in existing_urls}
    with ThreadPoolExecutor(max_workers=16) as pool:
        checks = list(pool.map(lambda f: check_url(f.url, allow_private, resolve), feeds))
    verdicts = []
    for feed, refusal in zip(feeds, checks, strict=True):
        if url_key(feed.url) in known:
            verdicts.append(Verdict(feed, "duplicate"))
        elif refusal:
            verdicts.append(Verdict(feed, "refused", *refusal))
        else:
            verdicts.append(Verdict(feed, "new"))
            known.add(url_key(feed.url))
    return verdicts


class MergeError(Exception):
    """The file could not be updated (message says why); it is left unchanged."""


def merge_sources(
    path: Path, feeds: Sequence[OpmlFeed], allow_private: bool,
    resolve: Resolver = socket.getaddrinfo,
) -> list[Verdict]:  # fmt: skip
    """Append the acceptable feeds to the `sources:` list of the file at `path`.

    The result is validated as a whole before it replaces the file (atomically), so the file
    is never left half-written or invalid; its comments and layout are kept (yamledit).
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
        listed = existing_sources(text)
    except (OSError, UnicodeDecodeError, YAMLError, YamlEditError) as exc:
        raise MergeError(f"{path}: {exc}") from exc
    verdicts = plan(feeds, [url for _, url in listed], allow_private, resolve)
    taken = {name for name, _ in listed}
    added = []
    for index, verdict in enumerate(verdicts):
        if verdict.ok:
            name = unique_name(clean_title(verdict.feed.title) or host_of(verdict.feed.url), taken)
            taken.add(name)
            added.append((name, verdict.feed.url))
            verdicts[index] = replace(verdict, name=name)
    if not added:
        return verdicts
    try:
        new_text = append_sources(text, added)
        parse_config(new_text, path)  # the file must stay valid; if not, it stays as it was
    except (YAMLError, YamlEditError) as exc:
        raise MergeError(f"{path}: {exc}") from exc
    except ConfigError as exc:
        raise MergeError(exc.describe()) from exc
    _write_atomically(path, new_text)
    return verdicts


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def describe(verdict: Verdict, lang: str) -> str:
    """Why a feed was not added, in the UI language ('' when it was)."""
    if verdict.status == "duplicate":
        return t("source_exists", lang)
    if verdict.status == "refused":
        return t(verdict.reason, lang, detail=verdict.detail)
    return ""


def verdict_frame(verdicts: Sequence[Verdict], lang: str) -> pd.DataFrame:
    """The import preview: one row a feed with what merging would do."""
    rows = [
        {
            "title": v.feed.title,
            "url": v.feed.url,
            "verdict": t("verdict_" + v.status, lang),
            "reason": describe(v, lang),
        }
        for v in verdicts
    ]
    return pd.DataFrame(rows, columns=["title", "url", "verdict", "reason"])
