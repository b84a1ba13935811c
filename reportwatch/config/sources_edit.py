"""Adding sources from the UI: URL checks and merging into sources.yaml without losing comments.

A URL typed or imported in the browser must be http(s) and, unless the configuration sets
`allow_private_sources`, resolve only to public addresses: otherwise the dashboard would let
anyone make the server fetch from its own network (SSRF). The check resolves the host now;
the fetcher runs later, so this is a first gate, not a guarantee against DNS rebinding.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from ruamel.yaml.error import YAMLError

from reportwatch.config.opml import OpmlFeed, clean_title
from reportwatch.config.settings import ConfigError, parse_config
from reportwatch.config.yamledit import YamlEditError, append_sources, existing_sources
from reportwatch.urls import Resolver, check_url, host_of, url_key


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
