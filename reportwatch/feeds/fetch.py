"""Fetch stage: download many feeds concurrently (aiohttp), politely and defensively.

Every failure becomes a FetchResult with status "error" and a short message; nothing raises.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import mimetypes
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from urllib.request import url2pathname

import aiohttp

from reportwatch import __version__
from reportwatch.models import FetchResult, FetchState
from reportwatch.urls import WEB_SCHEMES, scheme_of

log = logging.getLogger(__name__)

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
REDIRECTS = frozenset({301, 302, 303, 307, 308})
PERMANENT = frozenset({301, 308})
CHUNK = 64 * 1024
RETRY_AFTER_CAP = 24 * 3600.0


@dataclass(frozen=True)
class FetchSettings:
    concurrency: int = 50
    per_host: int = 4
    timeout: float = 20.0
    connect_timeout: float = 10.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = f"reportwatch/{__version__} (+feed monitor)"


@dataclass(frozen=True)
class FetchRequest:
    name: str
    url: str
    state: FetchState


class FetchError(Exception):
    """A failure whose message is fit to show to a user as is."""


def backoff_seconds(
    failures: int, retry_after: float | None, base: float, cap: float = 6 * 3600
) -> float:
    """Delay before the next try: base * 2**(failures-1) up to `cap`, 0 when nothing failed.

    A server's Retry-After wins when longer (it may exceed `cap`, but never 24 h).
    """
    # The exponent is clamped so that huge failure counts cannot overflow a float.
    delay = min(base * 2.0 ** min(failures - 1, 64), cap) if failures > 0 else 0.0
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP))
    return max(delay, 0.0)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now (delta-seconds or HTTP date), None when unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def fetch_all(
    requests: list[FetchRequest],
    settings: FetchSettings,
    on_done: Callable[[FetchResult], None] | None = None,
) -> list[FetchResult]:
    """Blocking wrapper around fetch_feeds; safe from any thread (e.g. a Streamlit worker)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(fetch_feeds(requests, settings, on_done))
    # asyncio.run refuses to nest inside a running loop (notebooks): use a thread of our own.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reportwatch-fetch") as pool:
        return pool.submit(lambda: asyncio.run(fetch_feeds(requests, settings, on_done))).result()


async def fetch_feeds(
    requests: list[FetchRequest],
    settings: FetchSettings,
    on_done: Callable[[FetchResult], None] | None = None,
) -> list[FetchResult]:
    """Fetch every request concurrently over one session; results come in request order."""
    connector = aiohttp.TCPConnector(
        limit=settings.concurrency, limit_per_host=settings.per_host, ttl_dns_cache=300
    )
    timeout = aiohttp.ClientTimeout(total=settings.timeout, sock_connect=settings.connect_timeout)
    # Our own semaphores make a feed wait for its turn *before* its timeout starts; queueing
    # inside the connector would count against the feed's total timeout.
    overall = asyncio.Semaphore(max(1, settings.concurrency))
    per_host: defaultdict[str, asyncio.Semaphore] = defaultdict(
        lambda: asyncio.Semaphore(max(1, settings.per_host))
    )

    async def one(request: FetchRequest) -> FetchResult:
        scheme, host = _scheme_and_host(request.url)
        if scheme == "file":
            result = await asyncio.to_thread(_read_file, request, settings.max_bytes)
        else:
            # Host first, then the global slot, so a busy host never holds global slots idle.
            async with per_host[host], overall:
                result = await _fetch_http(session, request, settings)
        if on_done is not None:
            try:
                on_done(result)
            except Exception:  # a broken progress bar must not lose the results
                log.exception("on_done callback failed for %s", request.name)
        return result

    async with aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        cookie_jar=aiohttp.DummyCookieJar(),  # no cookies leaking between feeds
    ) as session:
        return list(await asyncio.gather(*(one(r) for r in requests)))


def _scheme_and_host(url: str) -> tuple[str, str]:
    try:
        parts = urlsplit(url)
        return parts.scheme.lower(), parts.hostname or ""
    except ValueError:  # e.g. a broken IPv6 literal; _fetch_http reports it properly
        return "", ""


def _request_headers(settings: FetchSettings, state: FetchState) -> dict[str, str]:
    headers = {
        "User-Agent": settings.user_agent,
        "Accept": ACCEPT,
        "Accept-Encoding": "gzip, deflate",
    }
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


async def _fetch_http(
    session: aiohttp.ClientSession, request: FetchRequest, settings: FetchSettings
) -> FetchResult:
    result = FetchResult(name=request.name, url=request.url, status="error")
    start = time.monotonic()
    try:
        # One deadline across all redirect hops; aiohttp's own total restarts at every hop.
        async with asyncio.timeout(settings.timeout):
            await _follow(session, request, settings, result)
    except aiohttp.ConnectionTimeoutError:
        result.error = f"connect timed out after {settings.connect_timeout:g} s"
    except TimeoutError:
        result.error = f"timed out after {settings.timeout:g} s"
    except FetchError as exc:
        result.error = str(exc)
    except Exception as exc:  # errors never raise: describe them instead
        result.error = _describe(exc)
    result.latency = time.monotonic() - start
    if result.error is not None:
        result.status, result.body, result.nbytes = "error", None, 0
    return result


async def _follow(
    session: aiohttp.ClientSession,
    request: FetchRequest,
    settings: FetchSettings,
    result: FetchResult,
) -> None:
    """GET the URL, following up to max_redirects redirects by hand, and fill `result`."""
    url, seen, all_permanent = request.url, {request.url}, True
    headers = _request_headers(settings, request.state)
    for hop in range(settings.max_redirects + 1):
        _check_scheme(url, redirect=hop > 0)
        async with session.get(url, headers=headers, allow_redirects=False) as resp:
            location = resp.headers.get("Location")
            if resp.status not in REDIRECTS or not location:
                await _finish(resp, request.state, settings.max_bytes, result)
                # Only a chain of permanent hops that ends in a usable feed moves the source.
                if hop and all_permanent:
                    result.permanent_redirect = url
                return
        all_permanent = all_permanent and resp.status in PERMANENT
        url = urljoin(url, location.strip())
        if url in seen:
            break  # a loop can only end in "too many"; say so now
        seen.add(url)
    raise FetchError("too many redirects")


def _check_scheme(url: str, *, redirect: bool) -> None:
    scheme = scheme_of(url)
    if scheme not in WEB_SCHEMES:
        raise FetchError(f"{'redirect to ' if redirect else ''}unsupported URL scheme '{scheme}'")


async def _finish(
    resp: aiohttp.ClientResponse, state: FetchState, max_bytes: int, result: FetchResult
) -> None:
    """Turn the final (non-redirect) response into the result."""
    result.http_status = resp.status
    result.headers = _lower_headers(resp)
    result.etag = resp.headers.get("ETag")
    result.last_modified = resp.headers.get("Last-Modified")
    if resp.status == 304:
        # A 304 may omit the validators; the old ones are still the right ones to send next time.
        result.status = "not_modified"
        result.etag = result.etag or state.etag
        result.last_modified = result.last_modified or state.last_modified
        return
    if not 200 <= resp.status < 300:
        if resp.status in (429, 503):
            result.retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        raise FetchError(f"HTTP {resp.status} {resp.reason or ''}".rstrip())
    body = await _read_capped(resp, max_bytes)
    if not body:
        raise FetchError("empty response body")
    result.status, result.body, result.nbytes = "ok", body, len(body)


async def _read_capped(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """Read the decompressed body as it arrives, giving up as soon as it passes max_bytes."""
    too_big = FetchError(f"body larger than {max_bytes} bytes")
    # Without content coding, Content-Length is the body size: refuse before reading.
    if "Content-Encoding" not in resp.headers and (resp.content_length or 0) > max_bytes:
        raise too_big
    body = bytearray()
    # aiohttp inflates incrementally (bounded chunks), so a gzip bomb is stopped here early.
    async for chunk in resp.content.iter_chunked(CHUNK):
        body += chunk
        if len(body) > max_bytes:
            raise too_big
    return bytes(body)


def _lower_headers(resp: aiohttp.ClientResponse) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in resp.headers.items():
        key = key.lower()
        # Repeated headers are combined as RFC 9110 allows.
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _describe(exc: BaseException) -> str:
    """A short human message for a transport-level failure."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"DNS lookup failed for {exc.host}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return "TLS certificate error"
    if isinstance(exc, aiohttp.ClientSSLError):
        return "TLS error"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "connection closed by server"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "incomplete or corrupt response body"
    if isinstance(exc, aiohttp.InvalidURL | ValueError):
        return f"invalid URL: {exc}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"invalid HTTP response: {exc.message}"
    if isinstance(exc, OSError):  # ClientOSError and ClientConnectorError are OSErrors too
        code = getattr(exc, "os_error", exc).errno or exc.errno
        if code == errno.ECONNREFUSED:
            return "connection refused"
        if code in (errno.ECONNRESET, errno.EPIPE):
            return "connection reset"
        if isinstance(exc, aiohttp.ClientConnectorError):
            return f"cannot connect: {exc.os_error.strerror or exc.os_error}"
        return f"network error: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"[:200]


def _read_file(request: FetchRequest, max_bytes: int) -> FetchResult:
    """Serve a file:// URL (offline snapshots) with the same cap and result shape."""
    result = FetchResult(name=request.name, url=request.url, status="error")
    start = time.monotonic()
    parts = urlsplit(request.url)
    path = Path(url2pathname(parts.path))  # url2pathname percent-decodes
    try:
        if parts.netloc not in ("", "localhost"):
            raise FetchError(f"unsupported file URL host '{parts.netloc}'")
        with path.open("rb") as fh:
            body = fh.read(max_bytes + 1)
        if len(body) > max_bytes:
            raise FetchError(f"body larger than {max_bytes} bytes")
        if not body:
            raise FetchError("empty response body")
        content_type = mimetypes.guess_type(path.name)[0]
        result.headers = {"content-type": content_type} if content_type else {}
        result.status, result.body, result.nbytes = "ok", body, len(body)
    except FileNotFoundError:
        result.error = f"file not found: {path}"
    except FetchError as exc:
        result.error = str(exc)
    except OSError as exc:
        result.error = f"cannot read file {path}: {exc.strerror or exc}"
    result.latency = time.monotonic() - start
    return result
