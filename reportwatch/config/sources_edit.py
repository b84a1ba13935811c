"""Adding sources from the UI: URL checks and merging into sources.yaml without losing comments.

A URL typed or imported in the browser must be http(s) and, unless the configuration sets
`allow_private_sources`, resolve only to public addresses: otherwise the dashboard would let
anyone make the server fetch from its own network (SSRF). The check resolves the host now;
the fetcher runs later, so this is a first gate, not a guarantee against DNS rebinding.

Several people may add sources at the same moment (browser sessions are threads of one
server; several servers or a CLI may share the file). Every read-merge-write of the file runs
under an exclusive lock (`fcntl.flock` on a sidecar `.sources.yaml.lock` next to it), and just
before the new text replaces the file it is read again: when someone edited it in between
(a text editor does not take our lock) the merge starts over from the new text, so neither
change is lost. Sources added this way carry `origin: ui`.
"""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from ruamel.yaml.error import YAMLError

from reportwatch.config.opml import OpmlFeed, clean_title
from reportwatch.config.settings import ConfigError, parse_config
from reportwatch.config.yamledit import YamlEditError, append_sources, existing_sources, load
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
    return _verdicts(feeds, _check_urls(feeds, allow_private, resolve), existing_urls)


Refusal = tuple[str, str] | None


def _check_urls(feeds: Sequence[OpmlFeed], allow_private: bool, resolve: Resolver) -> list[Refusal]:
    """check_url for each feed (a host lookup each, in parallel): what the file does not change."""
    if not feeds:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(feeds))) as pool:
        return list(pool.map(lambda f: check_url(f.url, allow_private, resolve), feeds))


def _verdicts(
    feeds: Sequence[OpmlFeed], checks: Sequence[Refusal], existing_urls: Sequence[str]
) -> list[Verdict]:
    known = {url_key(u) for u in existing_urls}
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


ORIGIN_UI = "ui"  # the `origin` of sources added from the UI or by OPML import
LOCK_TIMEOUT = 10.0  # seconds to wait for another edit of the file before giving up
ATTEMPTS = 5  # merges started over because the file changed underneath, before giving up


def lock_path(path: Path) -> Path:
    """The sidecar file whose lock guards edits of the config at `path`."""
    return path.with_name(f".{path.name}.lock")


@contextmanager
def edit_lock(path: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the exclusive edit lock of the config at `path` (threads and processes alike: each
    call opens its own descriptor, and flock locks belong to the open file).

    Raises MergeError when another edit holds it for longer than `timeout` seconds. The lock
    file is left in place: removing it would let two editors lock two different files.
    """
    try:
        fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise MergeError(f"{path}: cannot open the lock file: {exc}") from exc
    try:
        deadline = time.monotonic() + timeout
        pause = 0.002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise MergeError(f"{path}: another edit is in progress, try again") from None
                time.sleep(min(pause, left))  # flock has no timeout of its own: poll
                pause = min(pause * 2, 0.05)
            except OSError as exc:
                raise MergeError(f"{path}: cannot lock the file for editing: {exc}") from exc
        yield
    finally:
        os.close(fd)  # releases the lock


def merge_sources(
    path: Path, feeds: Sequence[OpmlFeed], allow_private: bool,
    resolve: Resolver = socket.getaddrinfo, *, lock_timeout: float = LOCK_TIMEOUT,
    _before_write: Callable[[], object] | None = None,
) -> list[Verdict]:  # fmt: skip
    """Append the acceptable feeds to the `sources:` list of the file at `path`, each with
    `origin: ui`.

    The result is validated as a whole before it replaces the file (atomically), so the file
    is never left half-written or invalid; its comments and layout are kept (yamledit). The
    read-merge-write runs under the file's edit lock, and starts over from the file as it is
    when it changed underneath (see the module's docstring). `_before_write` is for tests: it
    runs between the merge and the check that the file is unchanged.
    """
    checks = _check_urls(feeds, allow_private, resolve)  # host lookups: outside the lock
    with edit_lock(path, lock_timeout):
        for _ in range(ATTEMPTS):
            raw = _read(path)
            verdicts, new_text = _merge(path, raw, feeds, checks)
            if new_text is None:
                return verdicts
            if _before_write is not None:
                _before_write()
            if _read(path) == raw:  # nobody changed the file while we merged
                _write_atomically(path, new_text)
                return verdicts
    raise MergeError(f"{path}: the file kept changing while sources were added, try again")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise MergeError(f"{path}: {exc}") from exc


def _merge(
    path: Path, raw: bytes, feeds: Sequence[OpmlFeed], checks: Sequence[Refusal]
) -> tuple[list[Verdict], str | None]:
    """The verdicts for `feeds` against the file's text `raw`, and the new text (None when
    nothing is added)."""
    try:
        text = raw.decode("utf-8-sig")
        data = load(text)
        listed = existing_sources(data)
    except (UnicodeDecodeError, YAMLError, YamlEditError) as exc:
        raise MergeError(f"{path}: {exc}") from exc
    verdicts = _verdicts(feeds, checks, [url for _, url in listed])
    taken = {name for name, _ in listed}
    added = []
    for index, verdict in enumerate(verdicts):
        if verdict.ok:
            name = unique_name(clean_title(verdict.feed.title) or host_of(verdict.feed.url), taken)
            taken.add(name)
            added.append((name, verdict.feed.url))
            verdicts[index] = replace(verdict, name=name)
    if not added:
        return verdicts, None
    try:
        new_text = append_sources(text, added, ORIGIN_UI, data)
        parse_config(new_text, path)  # the file must stay valid; if not, it stays as it was
    except (YAMLError, YamlEditError) as exc:
        raise MergeError(f"{path}: {exc}") from exc
    except ConfigError as exc:
        raise MergeError(exc.describe()) from exc
    return verdicts, new_text


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
