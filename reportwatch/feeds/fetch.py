"""Fetch stage: download many feeds concurrently (aiohttp), politely and defensively.

Every failure becomes a FetchResult with status "error" and a short message; nothing raises.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import mimetypes
import socket
import time
from collections import defaultdict
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from urllib.request import url2pathname

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from reportwatch import __version__
from reportwatch.models import FetchResult, FetchState
from reportwatch.urls import WEB_SCHEMES, is_public_address, scheme_of

log = logging.getLogger(__name__)

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
REDIRECTS = frozenset({301, 302, 303, 307, 308})
PERMANENT = frozenset({301, 308})
CHUNK = 64 * 1024
RETRY_AFTER_CAP = 24 * 3600.0
# What a public-only request (a source added from the UI) says when it fails: plain, and the
# same for refused, timed out or reset, so that the UI cannot be used to map a network.
REFUSED = "refused: the address is not public"
UNREACHABLE = "could not fetch the feed"


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
    # True for sources added from the UI (unless allow_private_sources): every address the
    # host resolves to must be public, at every redirect hop, and errors stay generic.
    public_only: bool = False


class FetchError(Exception):
    """A failure whose message is fit to show to a user as is."""


class StatusError(FetchError):
    """A final response that is not 2xx (or 304)."""

    def __init__(self, status: int, reason: str | None):
        self.status = status
        super().__init__(f"HTTP {status} {reason or ''}".rstrip())


class NotPublicError(Exception):
    """A public-only request met an address that is not public (raised before connecting).

    Not an OSError on purpose: aiohttp passes it through untouched instead of retrying the
    next address or wrapping it as a DNS or connection failure."""


@dataclass(frozen=True)
class AddressCheck:
    """How public-only requests resolve host names and which addresses they may connect to.

    In production: aiohttp's default resolver and `is_public_address`, nothing exempt. Tests
    pass a resolver of their own; `exempt` names (host, address) pairs let through although
    not public, because the only server a test can reach without a network is on loopback
    (a redirect test needs its first hop to arrive). The redirect targets and every other
    host are judged as in production."""

    resolver: Callable[[], AbstractResolver] = aiohttp.DefaultResolver
    exempt: Collection[tuple[str, str]] = field(default_factory=frozenset)

    def allows(self, host: str, address: str) -> bool:
        host = host.rstrip(".").lower()
        return is_public_address(address) or (host, address) in self.exempt

    def allows_socket(self, address: str) -> bool:
        """At connect time the host name is gone: an exempt address is exempt for any host
        (the host was judged by `allows` already; this is the backstop)."""
        return is_public_address(address) or any(address == a for _, a in self.exempt)


SYSTEM_CHECK = AddressCheck()


class PublicOnlyResolver(AbstractResolver):
    """Resolves with the inner resolver and refuses the host unless every address is allowed.

    aiohttp connects to the addresses returned here (numeric, no second lookup), so the
    address checked is the address connected: a DNS answer that changes between a check and
    the connection (rebinding) cannot slip in."""

    def __init__(self, inner: AbstractResolver, check: AddressCheck):
        self._inner = inner
        self._check = check

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not results or not all(self._check.allows(host, r["host"]) for r in results):
            raise NotPublicError(host)
        return results

    async def close(self) -> None:
        await self._inner.close()


def _public_socket_factory(check: AddressCheck) -> Callable[[tuple], socket.socket]:
    """The socket for one connection attempt, refused when its address is not allowed: the
    last word on the address actually connected (IP-literal URLs never reach a resolver)."""

    def make(addr_info: tuple) -> socket.socket:  # type: ignore[type-arg]
        family, type_, proto, _, sockaddr = addr_info
        if not check.allows_socket(sockaddr[0]):
            raise NotPublicError(sockaddr[0])
        return socket.socket(family=family, type=type_, proto=proto)

    return make


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
    check: AddressCheck = SYSTEM_CHECK,
) -> list[FetchResult]:
    """Blocking wrapper around fetch_feeds; safe from any thread (e.g. a Streamlit worker)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(fetch_feeds(requests, settings, on_done, check))
    # asyncio.run refuses to nest inside a running loop (notebooks): use a thread of our own.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reportwatch-fetch") as pool:
        run = lambda: asyncio.run(fetch_feeds(requests, settings, on_done, check))  # noqa: E731
        return pool.submit(run).result()


async def fetch_feeds(
    requests: list[FetchRequest],
    settings: FetchSettings,
    on_done: Callable[[FetchResult], None] | None = None,
    check: AddressCheck = SYSTEM_CHECK,
) -> list[FetchResult]:
    """Fetch every request concurrently; results come in request order.

    Public-only requests go through a session of their own whose connector resolves through
    PublicOnlyResolver and makes sockets only for allowed addresses; pooled connections are
    never shared between trusted and public-only requests."""
    connector = aiohttp.TCPConnector(
        limit=settings.concurrency, limit_per_host=settings.per_host, ttl_dns_cache=300
    )
    resolver = PublicOnlyResolver(check.resolver(), check)
    public_connector = aiohttp.TCPConnector(
        limit=settings.concurrency,
        limit_per_host=settings.per_host,
        ttl_dns_cache=300,
        resolver=resolver,
        socket_factory=_public_socket_factory(check),
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
        if scheme == "file" and request.public_only:  # a local file is never public
            result = FetchResult(request.name, request.url, "error", error=REFUSED)
        elif scheme == "file":
            result = await asyncio.to_thread(_read_file, request, settings.max_bytes)
        else:
            # Host first, then the global slot, so a busy host never holds global slots idle.
            async with per_host[host], overall:
                chosen = public_session if request.public_only else session
                result = await _fetch_http(chosen, request, settings, check)
        if on_done is not None:
            try:
                on_done(result)
            except Exception:  # a broken progress bar must not lose the results
                log.exception("on_done callback failed for %s", request.name)
        return result

    def new_session(conn: aiohttp.TCPConnector) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=conn,
            timeout=timeout,
            cookie_jar=aiohttp.DummyCookieJar(),  # no cookies leaking between feeds
        )

    try:
        async with (
            new_session(connector) as session,
            new_session(public_connector) as public_session,
        ):
            return list(await asyncio.gather(*(one(r) for r in requests)))
    finally:
        await resolver.close()  # a connector closes only the resolver it made itself


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
    session: aiohttp.ClientSession,
    request: FetchRequest,
    settings: FetchSettings,
    check: AddressCheck = SYSTEM_CHECK,
) -> FetchResult:
    result = FetchResult(name=request.name, url=request.url, status="error")
    start = time.monotonic()
    try:
        # One deadline across all redirect hops; aiohttp's own total restarts at every hop.
        async with asyncio.timeout(settings.timeout):
            await _follow(session, request, settings, result, check)
    except NotPublicError:
        result.error = REFUSED
    except Exception as exc:
        result.error = _public_message(exc) if request.public_only else _message(exc, settings)
    result.latency = time.monotonic() - start
    if result.error is not None:
        result.status, result.body, result.nbytes = "error", None, 0
    return result


def _public_message(exc: Exception) -> str:
    """What a public-only request may say: our own findings about the answer (status code,
    size, scheme, redirects), never the server's words, a port, or which way a network
    failure went (refused, reset, timed out and unresolvable all read the same)."""
    if isinstance(exc, StatusError):
        return f"HTTP {exc.status}"
    if isinstance(exc, FetchError):
        return str(exc)
    return UNREACHABLE


def _message(exc: Exception, settings: FetchSettings) -> str:
    """What a trusted (operator's) source says: as precise as we can tell."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return f"connect timed out after {settings.connect_timeout:g} s"
    if isinstance(exc, TimeoutError):
        return f"timed out after {settings.timeout:g} s"
    if isinstance(exc, FetchError):
        return str(exc)
    return _describe(exc)  # errors never raise: describe them instead


async def _follow(
    session: aiohttp.ClientSession,
    request: FetchRequest,
    settings: FetchSettings,
    result: FetchResult,
    check: AddressCheck = SYSTEM_CHECK,
) -> None:
    """GET the URL, following up to max_redirects redirects by hand, and fill `result`.

    For a public-only request every hop is judged afresh: its host goes through the
    session's PublicOnlyResolver, and an IP literal is judged here, before any connection."""
    url, seen, all_permanent = request.url, {request.url}, True
    headers = _request_headers(settings, request.state)
    for hop in range(settings.max_redirects + 1):
        _check_scheme(url, redirect=hop > 0)
        if request.public_only:
            _check_literal(url, check)
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


def _check_literal(url: str, check: AddressCheck) -> None:
    """Refuse a URL whose host is an IP address that is not allowed (aiohttp connects to
    literals without asking the resolver; the socket factory would refuse it too)."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return  # a name: the resolver judges it
    if not check.allows(host, host):
        raise NotPublicError(host)


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
        raise StatusError(resp.status, resp.reason)
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
