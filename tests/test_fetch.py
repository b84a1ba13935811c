"""The fetch stage against a real HTTP server on 127.0.0.1 (tests/feedserver.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import socket
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import pytest

from reportwatch.feeds.fetch import (
    FetchRequest,
    FetchSettings,
    backoff_seconds,
    fetch_all,
    fetch_feeds,
    parse_retry_after,
)
from reportwatch.models import FetchResult, FetchState
from tests.feedserver import FeedServer, rss

BODY = rss(
    [
        {"title": "Tencent & WeChat <video>", "link": "https://example.com/1", "guid": "1"},
        {"title": "视频号电商", "link": "https://example.com/2", "categories": ["电商"]},
    ]
)
FAST = FetchSettings(timeout=5.0, connect_timeout=2.0)


def fetch_one(url: str, state: FetchState | None = None, **settings: object) -> FetchResult:
    request = FetchRequest("src", url, state or FetchState())
    [result] = fetch_all([request], dataclasses.replace(FAST, **settings))
    return result


def state_of(result: FetchResult) -> FetchState:
    return FetchState(etag=result.etag, last_modified=result.last_modified)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port that is bound but not listening: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# -- success and conditional GET ----------------------------------------------------------------


def test_ok_with_body_validators_and_headers(feed_server: FeedServer) -> None:
    feed_server.set_feed("feed.xml", BODY)
    result = fetch_one(feed_server.url("feed.xml"))
    assert result.status == "ok" and result.error is None
    assert result.body == BODY and result.nbytes == len(BODY)
    assert result.http_status == 200
    assert result.etag and result.etag.startswith('"')
    assert result.last_modified and result.last_modified.endswith("GMT")
    assert result.headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert result.headers["etag"] == result.etag  # keys are lower-cased
    assert result.latency > 0


def test_request_headers_identify_us(feed_server: FeedServer) -> None:
    feed_server.set_feed("feed.xml", BODY)
    fetch_one(feed_server.url("feed.xml"))
    [seen] = feed_server.requests("feed.xml")
    assert seen["user-agent"].startswith("reportwatch/")
    assert "application/rss+xml" in seen["accept"] and "application/atom+xml" in seen["accept"]
    assert seen["accept-encoding"] == "gzip, deflate"
    assert "if-none-match" not in seen and "if-modified-since" not in seen


def test_second_fetch_is_conditional_and_not_modified(feed_server: FeedServer) -> None:
    feed_server.set_feed("feed.xml", BODY)
    first = fetch_one(feed_server.url("feed.xml"))
    second = fetch_one(feed_server.url("feed.xml"), state_of(first))
    assert feed_server.requests("feed.xml")[1]["if-none-match"] == first.etag
    assert second.status == "not_modified" and second.http_status == 304
    assert second.body is None and second.error is None
    assert (second.etag, second.last_modified) == (first.etag, first.last_modified)


def test_last_modified_only(feed_server: FeedServer) -> None:
    feed_server.set_feed("lm.xml", BODY, etag=False)
    first = fetch_one(feed_server.url("lm.xml"))
    assert first.status == "ok" and first.etag is None and first.last_modified
    second = fetch_one(feed_server.url("lm.xml"), state_of(first))
    seen = feed_server.requests("lm.xml")[1]
    assert seen["if-modified-since"] == first.last_modified and "if-none-match" not in seen
    assert second.status == "not_modified"


def test_changed_feed_is_fetched_again(feed_server: FeedServer) -> None:
    feed_server.set_feed("feed.xml", BODY)
    first = fetch_one(feed_server.url("feed.xml"))
    feed_server.set_feed("feed.xml", rss([{"title": "new"}]))
    second = fetch_one(feed_server.url("feed.xml"), state_of(first))
    assert second.status == "ok" and second.etag != first.etag


def test_304_without_validators_keeps_the_old_ones(feed_server: FeedServer) -> None:
    feed_server.set_response("bare304", 304)
    old = FetchState(etag='"abc"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT")
    result = fetch_one(feed_server.url("bare304"), old)
    assert result.status == "not_modified"
    assert (result.etag, result.last_modified) == (old.etag, old.last_modified)


def test_gzip_body_is_decoded(feed_server: FeedServer) -> None:
    feed_server.set_feed("gz.xml", BODY, gzip=True)
    result = fetch_one(feed_server.url("gz.xml"))
    assert result.status == "ok" and result.body == BODY and result.nbytes == len(BODY)
    assert result.headers["content-encoding"] == "gzip"


def test_deflate_body_is_decoded(feed_server: FeedServer) -> None:
    headers = {"Content-Encoding": "deflate", "Content-Type": "application/xml"}
    feed_server.set_response("deflate.xml", 200, zlib.compress(BODY), headers)
    result = fetch_one(feed_server.url("deflate.xml"))
    assert result.status == "ok" and result.body == BODY


# -- HTTP errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message"), [(404, "HTTP 404 Not Found"), (500, "HTTP 500 Internal Server Error")]
)
def test_http_error_status(feed_server: FeedServer, status: int, message: str) -> None:
    feed_server.set_response("bad", status, b"oops")
    result = fetch_one(feed_server.url("bad"))
    assert (result.status, result.error, result.http_status) == ("error", message, status)
    assert result.body is None and result.retry_after is None


def test_retry_after_seconds(feed_server: FeedServer) -> None:
    feed_server.set_response("busy", 429, headers={"Retry-After": "120"})
    result = fetch_one(feed_server.url("busy"))
    assert result.status == "error" and result.error == "HTTP 429 Too Many Requests"
    assert result.retry_after == 120


def test_retry_after_http_date(feed_server: FeedServer) -> None:
    when = formatdate(time.time() + 300, usegmt=True)
    feed_server.set_response("down", 503, headers={"Retry-After": when})
    result = fetch_one(feed_server.url("down"))
    assert result.error == "HTTP 503 Service Unavailable"
    assert result.retry_after is not None and 290 <= result.retry_after <= 300


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("junk", None), ("0", 0.0), ("90", 90.0), ("9999999", 86400.0)],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_retry_after_date_in_the_past_is_zero() -> None:
    assert parse_retry_after("Mon, 01 Jan 2001 00:00:00 GMT") == 0.0


def test_empty_body_is_an_error(feed_server: FeedServer) -> None:
    feed_server.set_response("empty", 200)
    result = fetch_one(feed_server.url("empty"))
    assert (result.status, result.error) == ("error", "empty response body")


# -- redirects ------------------------------------------------------------------------------------


def test_relative_redirect_is_followed(feed_server: FeedServer) -> None:
    feed_server.set_feed("dir/feed.xml", BODY)
    feed_server.set_response("dir/old", 302, headers={"Location": "feed.xml"})
    result = fetch_one(feed_server.url("dir/old"))
    assert result.status == "ok" and result.body == BODY
    assert result.permanent_redirect is None  # 302 is temporary


def test_permanent_redirect_chain(feed_server: FeedServer) -> None:
    feed_server.set_response("a", 301, headers={"Location": feed_server.url("b")})
    feed_server.set_response("b", 308, headers={"Location": "/c"})
    feed_server.set_feed("c", BODY)
    result = fetch_one(feed_server.url("a"))
    assert result.status == "ok" and result.permanent_redirect == feed_server.url("c")


def test_chain_with_a_temporary_hop_is_not_permanent(feed_server: FeedServer) -> None:
    feed_server.set_response("a", 301, headers={"Location": "/b"})
    feed_server.set_response("b", 307, headers={"Location": "/c"})
    feed_server.set_feed("c", BODY)
    result = fetch_one(feed_server.url("a"))
    assert result.status == "ok" and result.permanent_redirect is None


def test_redirect_loop(feed_server: FeedServer) -> None:
    feed_server.set_response("x", 302, headers={"Location": "/y"})
    feed_server.set_response("y", 302, headers={"Location": "/x"})
    result = fetch_one(feed_server.url("x"))
    assert (result.status, result.error) == ("error", "too many redirects")
    assert len(feed_server.requests("x")) == 1  # the loop is noticed, not walked to the limit


def _chain(server: FeedServer, hops: int) -> str:
    for i in range(hops):
        server.set_response(f"hop{i}", 301, headers={"Location": f"/hop{i + 1}"})
    server.set_feed(f"hop{hops}", BODY)
    return server.url("hop0")


def test_five_redirects_are_allowed(feed_server: FeedServer) -> None:
    result = fetch_one(_chain(feed_server, 5))
    assert result.status == "ok" and result.permanent_redirect == feed_server.url("hop5")


def test_six_redirects_are_too_many(feed_server: FeedServer) -> None:
    result = fetch_one(_chain(feed_server, 6))
    assert (result.status, result.error) == ("error", "too many redirects")
    assert feed_server.requests("hop6") == []


def test_redirect_to_other_scheme_is_refused(feed_server: FeedServer) -> None:
    feed_server.set_response("ftp", 302, headers={"Location": "ftp://127.0.0.1/feed"})
    result = fetch_one(feed_server.url("ftp"))
    assert result.error == "redirect to unsupported URL scheme 'ftp'"


# -- transport failures and limits ----------------------------------------------------------------


def test_slow_drip_ends_at_the_timeout(feed_server: FeedServer) -> None:
    feed_server.set_drip("drip", interval=0.05)
    started = time.monotonic()
    result = fetch_one(feed_server.url("drip"), timeout=1.0)
    assert result.status == "error" and result.error == "timed out after 1 s"
    assert time.monotonic() - started < 6


def test_connection_reset(feed_server: FeedServer) -> None:
    feed_server.set_reset("reset")
    result = fetch_one(feed_server.url("reset"))
    assert (result.status, result.error) == ("error", "connection reset")


def test_connection_refused(closed_port: int) -> None:
    result = fetch_one(f"http://127.0.0.1:{closed_port}/feed.xml")
    assert (result.status, result.error) == ("error", "connection refused")


def test_body_cap(feed_server: FeedServer) -> None:
    feed_server.set_feed("big", b"x" * 5000)
    result = fetch_one(feed_server.url("big"), max_bytes=4096)
    assert (result.status, result.error) == ("error", "body larger than 4096 bytes")
    assert result.body is None and result.nbytes == 0
    assert fetch_one(feed_server.url("big"), max_bytes=5000).status == "ok"


def test_body_cap_counts_decompressed_bytes(feed_server: FeedServer) -> None:
    body = b"<rss>" + b"a" * 100_000 + b"</rss>"
    feed_server.set_feed("gzbig", body, gzip=True)
    assert len(gzip.compress(body)) < 4096
    result = fetch_one(feed_server.url("gzbig"), max_bytes=4096)
    assert result.error == "body larger than 4096 bytes"


def test_gzip_bomb_is_stopped(feed_server: FeedServer) -> None:
    feed_server.set_gzip_bomb("bomb", 200 * 1024 * 1024)
    peak_before = _peak_rss_mib()
    result = fetch_one(feed_server.url("bomb"), max_bytes=1024 * 1024)
    assert (result.status, result.error) == ("error", "body larger than 1048576 bytes")
    if peak_before is not None:  # the bomb was never inflated in memory
        assert _peak_rss_mib() - peak_before < 100


def _peak_rss_mib() -> float | None:
    if sys.platform != "linux":  # ru_maxrss is KiB only on Linux
        return None
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("url", ["http://[::1/feed.xml", "http:///feed.xml", "not a url"])
def test_malformed_url_is_an_error_not_an_exception(url: str) -> None:
    result = fetch_one(url)
    assert result.status == "error" and result.error


def test_unsupported_scheme() -> None:
    result = fetch_one("ftp://127.0.0.1/feed.xml")
    assert (result.status, result.error) == ("error", "unsupported URL scheme 'ftp'")


# -- file:// --------------------------------------------------------------------------------------


def test_file_url(tmp_path: Path) -> None:
    path = tmp_path / "snap shot.xml"
    path.write_bytes(BODY)
    result = fetch_one(path.as_uri())  # as_uri percent-encodes the space
    assert result.status == "ok" and result.body == BODY and result.nbytes == len(BODY)
    assert result.headers.get("content-type") in (None, "application/xml", "text/xml")
    assert result.latency >= 0


def test_file_url_missing(tmp_path: Path) -> None:
    path = tmp_path / "gone.xml"
    result = fetch_one(path.as_uri())
    assert (result.status, result.error) == ("error", f"file not found: {path}")


def test_file_url_cap(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_bytes(b"x" * 2000)
    assert fetch_one(path.as_uri(), max_bytes=1000).error == "body larger than 1000 bytes"


# -- concurrency, order, callbacks, threads -------------------------------------------------------


def test_per_host_limit_is_respected(feed_server: FeedServer) -> None:
    feed_server.set_feed("slow", BODY, delay=0.2)
    requests = [FetchRequest(f"s{i}", feed_server.url("slow"), FetchState()) for i in range(8)]
    results = fetch_all(requests, FetchSettings(per_host=2, timeout=10))
    assert all(r.status == "ok" for r in results)
    assert feed_server.max_concurrency("slow") == 2


def test_results_in_request_order_and_on_done_once_each(feed_server: FeedServer) -> None:
    # Later requests finish first, so completion order differs from request order.
    for i in range(5):
        feed_server.set_feed(f"f{i}", rss([{"title": f"t{i}"}]), delay=0.05 * (5 - i))
    feed_server.set_response("missing", 404)
    names = [f"f{i}" for i in range(5)] + ["missing"]
    requests = [FetchRequest(n, feed_server.url(n), FetchState()) for n in names]
    done: list[str] = []
    results = fetch_all(requests, FAST, on_done=lambda r: done.append(r.name))
    assert [r.name for r in results] == names
    assert [r.url for r in results] == [r.url for r in requests]
    assert sorted(done) == sorted(names)
    assert done.index("f4") < done.index("f0")


def test_a_failing_on_done_loses_nothing(feed_server: FeedServer) -> None:
    feed_server.set_feed("feed.xml", BODY)

    def explode(result: FetchResult) -> None:
        raise RuntimeError("progress bar broke")

    [result] = fetch_all(
        [FetchRequest("a", feed_server.url("feed.xml"), FetchState())], FAST, explode
    )
    assert result.status == "ok"


def test_fetch_all_from_a_thread(feed_server: FeedServer) -> None:
    feed_server.set_feed("feed.xml", BODY)
    box: list[list[FetchResult]] = []
    request = FetchRequest("a", feed_server.url("feed.xml"), FetchState())
    worker = threading.Thread(target=lambda: box.append(fetch_all([request], FAST)))
    worker.start()
    worker.join(30)
    assert box and box[0][0].status == "ok"


def test_fetch_all_inside_a_running_loop(feed_server: FeedServer) -> None:
    feed_server.set_feed("feed.xml", BODY)
    request = FetchRequest("a", feed_server.url("feed.xml"), FetchState())

    async def main() -> list[FetchResult]:
        return fetch_all([request], FAST)

    assert asyncio.run(main())[0].status == "ok"


def test_fetch_feeds_async_and_empty_list(feed_server: FeedServer) -> None:
    feed_server.set_feed("feed.xml", BODY)
    request = FetchRequest("a", feed_server.url("feed.xml"), FetchState())
    assert asyncio.run(fetch_feeds([request], FAST))[0].body == BODY
    assert fetch_all([], FAST) == []


# -- backoff --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "retry_after", "base", "cap", "expected"),
    [
        (0, None, 60, 3600, 0.0),
        (1, None, 60, 3600, 60.0),
        (2, None, 60, 3600, 120.0),
        (3, None, 60, 3600, 240.0),
        (7, None, 60, 3600, 3600.0),  # 3840 capped
        (10_000, None, 60, 3600, 3600.0),  # no overflow
        (1, 300, 60, 3600, 300.0),  # Retry-After longer than backoff wins
        (3, 10, 60, 3600, 240.0),  # but never shortens it
        (1, 7200, 60, 3600, 7200.0),  # may exceed cap
        (1, 10**9, 60, 3600, 86400.0),  # never beyond a day
        (0, 30, 60, 3600, 30.0),
    ],
)
def test_backoff_seconds(
    failures: int, retry_after: float | None, base: float, cap: float, expected: float
) -> None:
    assert backoff_seconds(failures, retry_after, base, cap) == expected


def test_backoff_default_cap_is_six_hours() -> None:
    assert backoff_seconds(50, None, 60) == 6 * 3600
