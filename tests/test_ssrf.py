"""Sources added from the UI (`origin: ui`) are fetched from public addresses only (issue 15).

Everything here runs against the real feed server on 127.0.0.1 (tests/feedserver.py), real
config files and the real poll cycle or CLI. Where a test needs a host name to resolve to a
chosen address it passes its own resolver to fetch_all (the `AddressCheck.resolver` seam);
the address policy itself is never replaced.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from hypothesis import given
from hypothesis import strategies as st

from reportwatch.config.settings import ConfigError, load_config, parse_config
from reportwatch.feeds.fetch import (
    REFUSED,
    UNREACHABLE,
    AddressCheck,
    FetchRequest,
    FetchSettings,
    fetch_all,
)
from reportwatch.models import FetchState
from reportwatch.poll.cycle import run_cycle
from reportwatch.store.core import open_store
from reportwatch.urls import check_url, is_public_address
from tests.feedserver import FeedServer, rss
from tests.helpers import TENCENT, cli, json_lines, write_config

FAST = FetchSettings(timeout=5.0, connect_timeout=2.0)
FEED = rss([TENCENT])


# -- the address policy ------------------------------------------------------------------------

NOT_PUBLIC = [
    "127.0.0.1", "10.0.0.5", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.0.2.1",
    "198.18.0.1", "::", "::1", "fe80::1", "fe80::1%eth0", "fc00::1", "fd00::1", "fec0::1",
    "ff02::1", "ff0e::1", "2001:db8::1", "100::1",
    # IPv4 inside IPv6: judged by the IPv4 address carried
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",  # IPv4-mapped
    "::127.0.0.1", "::10.0.0.1", "::0.0.0.1",  # IPv4-compatible
    "::ffff:0:127.0.0.1",  # SIIT IPv4-translated
    "64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b::a9fe:a9fe",  # NAT64 well-known
    "64:ff9b:1::7f00:1", "64:ff9b:1::c0a8:101",  # NAT64 local-use, /96 layout
    "64:ff9b:1:7f00:1::",  # local-use with the IPv4 elsewhere: cannot be read for sure
    "2002:7f00:1::", "2002:a00:1::1", "2002:c0a8:101:1::1",  # 6to4
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    "2001:0:7f00:1:8000:63bf:f7f7:f7f7",  # Teredo, server 127.0.0.1
    "not an address", "",
]  # fmt: skip
PUBLIC = [
    "8.8.8.8", "93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001::1",
    "::ffff:8.8.8.8", "::8.8.8.8", "64:ff9b::808:808", "64:ff9b:1::808:808", "2002:808:808::1",
    "2001:0:808:808:8000:63bf:f7f7:f7f7",  # Teredo: server 8.8.8.8, client 8.8.8.8
]  # fmt: skip


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_not_public_addresses(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address: str) -> None:
    assert is_public_address(address)


def _embeddings(v4: ipaddress.IPv4Address) -> dict[str, ipaddress.IPv6Address]:
    n = int(v4)
    return {
        "mapped": ipaddress.IPv6Address((0xFFFF << 32) | n),
        "compatible": ipaddress.IPv6Address(n),
        "translated": ipaddress.IPv6Address((0xFFFF << 48) | n),
        "nat64": ipaddress.IPv6Address((0x64FF9B << 96) | n),
        "nat64-local": ipaddress.IPv6Address((0x64FF9B0001 << 80) | n),
        "6to4": ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | 1),
        # Teredo with this address as the server and (obfuscated) as the client
        "teredo": ipaddress.IPv6Address((0x20010000 << 96) | (n << 64) | (n ^ 0xFFFFFFFF)),
    }


@given(st.ip_addresses(v=4))
def test_embedded_ipv4_is_judged_as_the_ipv4_address(v4: ipaddress.IPv4Address) -> None:
    expected = is_public_address(str(v4))
    for form, v6 in _embeddings(v4).items():
        assert is_public_address(str(v6)) == expected, (form, str(v6))


CARRIES_IPV4 = [ipaddress.ip_network(n) for n in (
    "::/96", "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16",
    "2001::/32")]  # fmt: skip


@given(st.ip_addresses())
def test_a_public_address_is_in_no_special_range(ip: ipaddress._BaseAddress) -> None:
    """(Addresses that carry an IPv4 address are judged by it: see the test above.)"""
    if ip.version == 6 and any(ip in net for net in CARRIES_IPV4):
        return
    if is_public_address(str(ip)):
        assert not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast)
        assert not (ip.is_unspecified or ip.is_reserved)


@pytest.mark.parametrize(
    "url", ["http://[64:ff9b::7f00:1]/feed", "http://[2002:7f00:1::]/feed",
            "http://[::127.0.0.1]/feed", "http://[::ffff:127.0.0.1]:8080/feed",
            "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/feed"],
)  # fmt: skip
def test_adding_an_embedded_loopback_address_is_refused(url: str) -> None:
    """The add-time check (system resolver, literal hosts) uses the same policy."""
    refusal = check_url(url, False)
    assert refusal is not None and refusal[0] == "refuse_private"
    assert check_url(url, True) is None


# -- configuration -----------------------------------------------------------------------------


def test_origin_ui_is_accepted_and_other_origins_are_not(tmp_path: Path) -> None:
    source = "sources:\n  - name: a\n    url: https://a.example/rss\n"
    assert parse_config(source, tmp_path / "s.yaml").sources[0].origin is None
    ui = parse_config(source + "    origin: ui\n", tmp_path / "s.yaml")
    assert ui.sources[0].origin == "ui"
    with pytest.raises(ConfigError) as bad:
        parse_config(source + "    origin: operator\n", tmp_path / "s.yaml")
    assert bad.value.problems[0].location == "sources[0].origin"
    assert bad.value.problems[0].line == 4
    with pytest.raises(ConfigError) as unknown:  # unknown keys stay errors
        parse_config(source + "    origins: ui\n", tmp_path / "s.yaml")
    assert "unknown key" in unknown.value.problems[0].message


# -- the poll cycle ------------------------------------------------------------------------------


def _poll(config: Path) -> dict[str, tuple[str, str | None]]:
    loaded = load_config(config)
    store = open_store(loaded.config.database_url)
    try:
        report = run_cycle(loaded, store, force=True)
    finally:
        store.close()
    return {o.name: (o.status, o.error) for o in report.outcomes}


def test_ui_source_on_loopback_is_refused_before_any_request(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    feed_server.set_feed("ui.xml", FEED)
    feed_server.set_feed("own.xml", FEED)
    config = write_config(
        tmp_path,
        [
            {"name": "ui", "url": feed_server.url("ui.xml"), "origin": "ui"},
            {"name": "own", "url": feed_server.url("own.xml")},  # the operator's: trusted
        ],
    )
    outcomes = _poll(config)
    assert outcomes["ui"] == ("error", REFUSED)
    assert outcomes["own"][0] == "ok"  # unchanged behaviour for sources without origin
    assert feed_server.requests("ui.xml") == []
    assert len(feed_server.requests("own.xml")) == 1


def test_allow_private_sources_lets_ui_sources_reach_loopback(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    feed_server.set_feed("ui.xml", FEED)
    source = {"name": "ui", "url": feed_server.url("ui.xml"), "origin": "ui"}
    config = write_config(tmp_path, [source], allow_private_sources=True)
    assert _poll(config)["ui"] == ("ok", None)
    assert len(feed_server.requests("ui.xml")) == 1


def test_ui_sources_named_as_localhost_or_file_are_refused(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    feed_server.set_feed("feed.xml", FEED)
    local = tmp_path / "local.xml"
    local.write_bytes(FEED)
    config = write_config(
        tmp_path,
        [
            {"name": "named", "url": f"http://localhost:{feed_server.port}/feed.xml",
             "origin": "ui"},
            {"name": "mapped", "url": f"http://[::ffff:127.0.0.1]:{feed_server.port}/feed.xml",
             "origin": "ui"},
            {"name": "file", "url": local.as_uri(), "origin": "ui"},
        ],
    )  # fmt: skip
    assert _poll(config) == {n: ("error", REFUSED) for n in ("named", "mapped", "file")}
    assert feed_server.requests("feed.xml") == []


def test_the_cli_shows_the_plain_reason(feed_server: FeedServer, tmp_path: Path) -> None:
    feed_server.set_feed("ui.xml", FEED)
    source = {"name": "ui", "url": feed_server.url("ui.xml"), "origin": "ui"}
    config = write_config(tmp_path, [source])
    assert cli("check-config", str(config)).returncode == 0
    assert cli("poll", "--once", config=config).returncode == 0
    listed = cli("sources", "--format", "json", config=config)
    [row] = json_lines(listed.stdout)
    assert row["status"] == "error" and row["error"] == REFUSED
    assert str(feed_server.port) not in row["error"]
    assert feed_server.requests("ui.xml") == []


# -- redirects, DNS rebinding, messages (fetch_all with a resolver of the test's own) -------------


class Resolver(AbstractResolver):
    """Answers from a table: host → list of answers, one per lookup (the last repeats).
    Records every lookup so a test can tell how many there were."""

    def __init__(self, answers: dict[str, list[list[str]]]):
        self.answers = answers
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "not known")
        queue = self.answers[host]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            ResolveResult(
                hostname=host, host=a, port=port, proto=0,
                family=socket.AF_INET6 if ":" in a else socket.AF_INET,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for a in addresses
        ]  # fmt: skip

    async def close(self) -> None:
        pass


def _fetch_public(url: str, check: AddressCheck) -> tuple[str, str | None, bytes | None]:
    request = FetchRequest("ui", url, FetchState(), public_only=True)
    [result] = fetch_all([request], FAST, check=check)
    return result.status, result.error, result.body


def test_every_redirect_hop_is_judged(feed_server: FeedServer) -> None:
    """A public host that redirects to loopback is refused at the hop.

    Without a network the only server this test can reach is on 127.0.0.1, so the first hop
    cannot honestly resolve to a public address and still arrive. Instead the check exempts
    exactly one (host, address) pair, ("feeds.test", "127.0.0.1"), standing in for a public
    host; the redirect targets are other hosts (a literal, a name resolving to loopback or a
    private network, an embedded form) and are judged by the unchanged policy. The control
    case shows the hop is really followed when its target is allowed.
    """
    port = feed_server.port
    feed_server.set_feed("feed.xml", FEED)
    targets = {
        "literal": f"http://127.0.0.1:{port}/feed.xml",
        "mapped": f"http://[::ffff:127.0.0.1]:{port}/feed.xml",
        "nat64": f"http://[64:ff9b::7f00:1]:{port}/feed.xml",
        "name": f"http://inside.test:{port}/feed.xml",
        "private": f"http://intranet.test:{port}/feed.xml",
        "control": f"http://feeds.test:{port}/feed.xml",
    }
    for name, target in targets.items():
        feed_server.set_response(f"hop-{name}", 302, headers={"Location": target})
    resolver = Resolver(
        {"feeds.test": [["127.0.0.1"]], "inside.test": [["127.0.0.1"]],
         "intranet.test": [["93.184.216.34", "10.1.2.3"]]}  # one bad answer is enough
    )  # fmt: skip
    check = AddressCheck(resolver=lambda: resolver, exempt={("feeds.test", "127.0.0.1")})
    for name in targets:
        if name == "control":
            continue
        status, error, _ = _fetch_public(f"http://feeds.test:{port}/hop-{name}", check)
        assert (status, error) == ("error", REFUSED), name
        assert len(feed_server.requests(f"hop-{name}")) == 1  # the first hop did arrive
    assert feed_server.requests("feed.xml") == []  # no refused hop got through
    status, error, body = _fetch_public(f"http://feeds.test:{port}/hop-control", check)
    assert (status, error, body) == ("ok", None, FEED)
    assert len(feed_server.requests("feed.xml")) == 1


def test_dns_rebinding_connects_to_the_checked_address(feed_server: FeedServer) -> None:
    """The resolver answers the allowed address once, then loopback to every later lookup.

    127.0.0.1 for "rebind.test" stands in for the public first answer (exempt by name, as in
    the redirect test); 127.0.0.2 is the rebound answer, loopback and not exempt, where
    nothing listens. The fetch succeeds from the server on 127.0.0.1 after one lookup: the
    address checked is the address connected. An implementation that checked first and let
    the HTTP client resolve again would connect to 127.0.0.2 and fail.
    """
    feed_server.set_feed("feed.xml", FEED)
    resolver = Resolver({"rebind.test": [["127.0.0.1"], ["127.0.0.2"]]})
    check = AddressCheck(resolver=lambda: resolver, exempt={("rebind.test", "127.0.0.1")})
    url = f"http://rebind.test:{feed_server.port}/feed.xml"
    assert _fetch_public(url, check) == ("ok", None, FEED)
    assert resolver.lookups == ["rebind.test"]
    # and the rebound answer alone is refused, without a connection
    assert _fetch_public(url, check)[:2] == ("error", REFUSED)


def test_ui_source_errors_are_generic(feed_server: FeedServer) -> None:
    """No reason phrase, port, or kind of network failure in a ui-origin source's error."""
    feed_server.set_response("boom", 500, reason="Internal db01.corp:5432 down")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens on this port now: "connection refused" for a trusted one
    resolver = Resolver({"feeds.test": [["127.0.0.1"]]})
    check = AddressCheck(resolver=lambda: resolver, exempt={("feeds.test", "127.0.0.1")})
    assert _fetch_public(f"http://feeds.test:{feed_server.port}/boom", check)[:2] == (
        "error",
        "HTTP 500",
    )
    refused = _fetch_public(f"http://feeds.test:{closed_port}/feed.xml", check)
    assert refused[:2] == ("error", UNREACHABLE)
    unknown = _fetch_public(f"http://nowhere.test:{closed_port}/feed.xml", check)
    assert unknown[:2] == ("error", UNREACHABLE)
    # The same failures from the operator's own source say what happened.
    trusted = FetchRequest("own", f"http://127.0.0.1:{closed_port}/x", FetchState())
    [result] = fetch_all([trusted], FAST)
    assert result.error == "connection refused"
    boom = FetchRequest("own", feed_server.url("boom"), FetchState())
    assert fetch_all([boom], FAST)[0].error == "HTTP 500 Internal db01.corp:5432 down"
