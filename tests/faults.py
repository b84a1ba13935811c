"""Every network fault kind, served by a FeedServer (or a black hole), for the fault tests and
the end-to-end hostile-input test."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from tests.feedserver import FeedServer, rss
from tests.helpers import TENCENT

BOMB = 1 << 30  # 1 GiB of zeros, about 1 MiB on the wire


def fault_errors(timeout: float, max_bytes: int) -> dict[str, str]:
    """Source name → words its error must contain, for fetch.timeout and fetch.max_bytes."""
    return {
        "connect-timeout": "connect timed out",
        "read-timeout": f"timed out after {timeout:g} s",
        "slow-drip": f"timed out after {timeout:g} s",
        "reset": "connection reset",
        "redirect-loop": "too many redirects",
        "http-404": "HTTP 404",
        "http-410": "HTTP 410",
        "http-500": "HTTP 500",
        "http-503": "HTTP 503",
        "http-429": "HTTP 429",
        "empty-body": "empty response body",
        "oversized": f"body larger than {max_bytes} bytes",
        "oversized-chunked": f"body larger than {max_bytes} bytes",
        "gzip-bomb": f"body larger than {max_bytes} bytes",
        "html-page": "not a feed (HTML page)",
    }


@contextmanager
def black_hole() -> Iterator[str]:
    """A URL whose TCP connect never completes: a listener with a full accept queue."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):  # fill the queue; later SYNs are dropped, so connect() hangs
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield f"http://127.0.0.1:{port}/feed.xml"
    finally:
        for sock in [*fillers, listener]:
            sock.close()


def serve_faults(server: FeedServer, hole: str, max_bytes: int) -> list[dict[str, object]]:
    """Every fault kind on its own path, plus one good feed; returns the config's sources."""
    server.set_feed("/good.xml", rss([TENCENT]))
    server.set_response("/read-timeout", 200, b"<rss/>", delay=600)
    server.set_drip("/slow-drip", chunk=b"<", interval=0.2)
    server.set_reset("/reset")
    server.set_response("/redirect-loop", 302, headers={"Location": "/redirect-loop-b"})
    server.set_response("/redirect-loop-b", 301, headers={"Location": "/redirect-loop"})
    for code in (404, 410, 500, 503):
        server.set_response(f"/http-{code}", code, b"<html>error</html>")
    server.set_response("/http-429", 429, headers={"Retry-After": "900"})
    server.set_response("/empty-body", 200, b"", headers={"Content-Type": "application/rss+xml"})
    server.set_feed("/oversized", b"<rss>" + b"x" * (4 * max_bytes) + b"</rss>")
    server.set_drip("/oversized-chunked", chunk=b"y" * 65536, interval=0.001)
    server.set_gzip_bomb("/gzip-bomb", BOMB)
    page = b"<!DOCTYPE html><html><head><title>Not a feed</title></head><body>hi</body></html>"
    server.set_feed("/html-page", page, content_type="text/html; charset=utf-8")
    sources: list[dict[str, object]] = [{"name": "good", "url": server.url("/good.xml")}]
    for name in fault_errors(1, 1):
        url = hole if name == "connect-timeout" else server.url(f"/{name}")
        sources.append({"name": name, "url": url})
    return sources
