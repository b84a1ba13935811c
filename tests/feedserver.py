"""A real HTTP feed server on 127.0.0.1 for tests (aiohttp.web in a background thread).

    server = FeedServer().start()
    server.set_feed("a.xml", rss([{"title": "Hello", "link": "https://example.com/1"}]))
    url = server.url("a.xml")
    ...
    server.stop()

Or use the `feed_server` fixture from tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import gzip as gzip_module
import hashlib
import socket
import struct
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, formatdate
from functools import lru_cache
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FeedServer:
    """HTTP server with per-path canned behaviours; records the request headers it sees."""

    def __init__(self) -> None:
        self.port: int = 0
        self._handlers: dict[str, Handler] = {}
        self._requests: defaultdict[str, list[dict[str, str]]] = defaultdict(list)
        self._active: defaultdict[str, int] = defaultdict(int)
        self._max_active: defaultdict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FeedServer:
        ready = threading.Event()
        failure: list[BaseException] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._serve, args=(ready, failure), name="FeedServer", daemon=True
        )
        self._thread.start()
        if not ready.wait(10) or failure:
            raise RuntimeError(f"FeedServer did not start: {failure}")
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._open())
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            return
        ready.set()
        loop.run_forever()
        assert self._runner is not None
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    async def _open(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # handler_cancellation: a client that hangs up stops drips and delays at once.
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=0.5, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    # -- inspection --------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{_key(path)}"

    def requests(self, path: str) -> list[dict[str, str]]:
        """Request headers seen for `path`, oldest first (keys lower-cased)."""
        with self._lock:
            return [dict(r) for r in self._requests[_key(path)]]

    def max_concurrency(self, path: str) -> int:
        """The most requests for `path` that were being handled at the same time."""
        with self._lock:
            return self._max_active[_key(path)]

    # -- behaviours --------------------------------------------------------------------------

    def set_feed(
        self,
        path: str,
        body: bytes,
        *,
        content_type: str = "application/rss+xml; charset=utf-8",
        etag: bool = True,
        last_modified: bool = True,
        delay: float = 0.0,
        gzip: bool = False,
    ) -> None:
        """Serve `body` with validators; answer 304 to a matching conditional request."""
        tag = f'"{hashlib.sha256(body).hexdigest()[:20]}"'
        stamp = formatdate(time.time() - 60, usegmt=True)
        payload = gzip_module.compress(body) if gzip else body

        async def handler(request: web.Request) -> web.StreamResponse:
            await asyncio.sleep(delay)
            validators = {}
            if etag:
                validators["ETag"] = tag
            if last_modified:
                validators["Last-Modified"] = stamp
            if _not_modified(request, tag if etag else None, stamp if last_modified else None):
                return web.Response(status=304, headers=validators)
            headers = {"Content-Type": content_type, **validators}
            if gzip:
                headers["Content-Encoding"] = "gzip"
            return web.Response(body=payload, headers=headers)

        self._handlers[_key(path)] = handler

    def set_response(
        self,
        path: str,
        status: int,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        reason: str | None = None,
    ) -> None:
        """Answer with a fixed status, body and headers (errors, 429 + Retry-After, redirects);
        `reason` replaces the status line's reason phrase (server-chosen text, e.g. hostile)."""

        async def handler(request: web.Request) -> web.StreamResponse:
            await asyncio.sleep(delay)
            return web.Response(
                status=status, body=body or None, headers=dict(headers or {}), reason=reason
            )

        self._handlers[_key(path)] = handler

    def set_drip(self, path: str, chunk: bytes = b"<", interval: float = 0.5) -> None:
        """Send `chunk` every `interval` seconds, forever (until the client hangs up)."""

        async def handler(request: web.Request) -> web.StreamResponse:
            resp = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
            await resp.prepare(request)
            try:
                while True:
                    await resp.write(chunk)
                    await asyncio.sleep(interval)
            except ConnectionError:
                return resp

        self._handlers[_key(path)] = handler

    def set_reset(self, path: str) -> None:
        """Abort the connection with a TCP RST instead of answering."""

        async def handler(request: web.Request) -> web.StreamResponse:
            transport = request.transport
            assert transport is not None
            sock = transport.get_extra_info("socket")
            # SO_LINGER with a zero timeout turns close() into an RST.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
            await asyncio.sleep(5)  # cancelled as soon as aiohttp sees the connection gone
            raise ConnectionResetError

        self._handlers[_key(path)] = handler

    def set_gzip_bomb(self, path: str, decompressed_size: int) -> None:
        """Serve gzip-encoded zeros that inflate to `decompressed_size` bytes."""
        payload = _gzip_zeros(decompressed_size)

        async def handler(request: web.Request) -> web.StreamResponse:
            headers = {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"}
            return web.Response(body=payload, headers=headers)

        self._handlers[_key(path)] = handler

    # -- plumbing ----------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        key = request.path
        with self._lock:
            self._requests[key].append({k.lower(): v for k, v in request.headers.items()})
            self._active[key] += 1
            self._max_active[key] = max(self._max_active[key], self._active[key])
        try:
            handler = self._handlers.get(key)
            if handler is None:
                return web.Response(status=404, text="no such path")
            return await handler(request)
        finally:
            with self._lock:
                self._active[key] -= 1


def _key(path: str) -> str:
    return "/" + path.lstrip("/")


def _not_modified(request: web.Request, tag: str | None, stamp: str | None) -> bool:
    """RFC 9110: If-None-Match decides when present; otherwise If-Modified-Since."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        candidates = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return tag is not None and (tag in candidates or "*" in candidates)
    if_modified_since = request.headers.get("If-Modified-Since")
    return stamp is not None and if_modified_since == stamp


@lru_cache(maxsize=8)
def _gzip_zeros(size: int) -> bytes:
    """Gzip `size` zero bytes without ever holding them: one 1 MiB block is deflated once and
    its output repeated (a full flush makes every block's output identical)."""
    block = bytes(min(size, 1 << 20))
    count, rest = divmod(size, len(block)) if block else (0, 0)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate; we write the gzip frame
    segment = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    tail = deflate.compress(block[:rest]) + deflate.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(block[:rest], crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # magic, deflate, no flags, no mtime
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return header + segment * count + tail + trailer


# -- feed documents ----------------------------------------------------------------------------


def _date(value: Any, *, iso: bool) -> str:
    if isinstance(value, datetime):
        if iso:
            return value.isoformat()
        aware = value.tzinfo is not None
        return format_datetime(value.astimezone(UTC) if aware else value, usegmt=aware)
    return str(value)


def _categories(item: Mapping[str, Any]) -> Iterable[str]:
    value = item.get("categories", item.get("category", []))
    return [value] if isinstance(value, str) else value


def rss(items: list[dict[str, Any]], title: str = "Test feed") -> bytes:
    """An RSS 2.0 document. Item keys (all optional): title, link, guid, description,
    pubDate (str or aware datetime), categories (list of str; `category` also accepted)."""
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>http://127.0.0.1/</link>",
        f"<description>{escape(title)}</description>",
    ]
    for item in items:
        out.append("<item>")
        for key in ("title", "link", "description"):
            if item.get(key) is not None:
                out.append(f"<{key}>{escape(str(item[key]))}</{key}>")
        if item.get("guid") is not None:
            out.append(f'<guid isPermaLink="false">{escape(str(item["guid"]))}</guid>')
        if item.get("pubDate") is not None:
            out.append(f"<pubDate>{escape(_date(item['pubDate'], iso=False))}</pubDate>")
        out.extend(f"<category>{escape(c)}</category>" for c in _categories(item))
        out.append("</item>")
    out.append("</channel></rss>")
    return "\n".join(out).encode("utf-8")


def atom(entries: list[dict[str, Any]], title: str = "Test feed") -> bytes:
    """An Atom 1.0 document. Entry keys (all optional): title, link, id, summary,
    updated (str or aware datetime), categories (list of str)."""
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<title>{escape(title)}</title><id>urn:reportwatch:test</id>",
        "<updated>2024-01-01T00:00:00Z</updated>",
    ]
    for entry in entries:
        out.append("<entry>")
        if entry.get("title") is not None:
            out.append(f"<title>{escape(str(entry['title']))}</title>")
        if entry.get("link") is not None:
            out.append(f"<link href={quoteattr(str(entry['link']))}/>")
        if entry.get("id") is not None:
            out.append(f"<id>{escape(str(entry['id']))}</id>")
        if entry.get("updated") is not None:
            out.append(f"<updated>{escape(_date(entry['updated'], iso=True))}</updated>")
        if entry.get("summary") is not None:
            out.append(f"<summary>{escape(str(entry['summary']))}</summary>")
        out.extend(f"<category term={quoteattr(c)}/>" for c in _categories(entry))
        out.append("</entry>")
    out.append("</feed>")
    return "\n".join(out).encode("utf-8")
