"""The URL policy, in one place: which schemes we fetch, store and render (http and https only),
what makes two URLs the same (link keys, feed URLs), and which addresses count as public (sources
added from the UI must resolve only to those, at add time and at every fetch and redirect).

Imports nothing of ours: config, fetch, parse, OPML, source editing and rendering all use it.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

WEB_SCHEMES = ("http", "https")
_URL_JUNK = re.compile(r"[\t\n\r]")  # browsers drop these inside URLs ("java\nscript:")
_DATABASE_URL = re.compile(r"^(?P<backend>[A-Za-z][\w]*)(?:\+[\w]+)?://")

Resolver = Callable[..., list[Any]]


def scheme_of(url: str) -> str:
    """The URL's scheme, lower-cased ("" when it has none or cannot be split)."""
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return ""


def database_backend(url: str) -> str | None:
    """ "sqlite" for sqlite:///x.db, "postgresql" for postgresql+psycopg://…, None if not a URL."""
    found = _DATABASE_URL.match(url)
    return found.group("backend").lower() if found else None


def is_web_url(url: str | None) -> bool:
    """An http(s) URL with a host: the only links we fetch, store or render."""
    if not url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in WEB_SCHEMES and bool(parts.netloc)


def safe_link(url: str | None, base: str | None = None) -> str | None:
    """Absolute http(s) URL (relative ones resolved against `base`), else None."""
    if not url:
        return None
    url = _URL_JUNK.sub("", url).strip("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x1b \x7f")
    try:
        if base and (base := safe_link(base)):
            url = urljoin(base, url)
        parts = urlsplit(url)
        ok = parts.scheme.lower() in WEB_SCHEMES and bool(parts.hostname)
    except ValueError:  # e.g. "http://[broken"
        return None
    return url if ok else None


def normalise_link(url: str, *, keep_fragment: bool = False) -> str:
    """Key form of a URL: "//host/path?sorted-query"; scheme, utm_*, fragment, default port go."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    if not parts.netloc:
        return url
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port and (parts.scheme.lower(), port) not in (("http", 80), ("https", 443)):
        host += f":{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_")
    ]
    path = "" if parts.path == "/" else parts.path
    key = "//" + host + path + ("?" + urlencode(sorted(query)) if query else "")
    return key + "#" + parts.fragment if keep_fragment and parts.fragment else key


def normalise_url(url: str) -> str:
    """Trimmed, feed:// → http://, scheme and host lower-cased, fragment dropped."""
    url = url.strip()
    if url.lower().startswith("feed://"):
        url = "http://" + url[7:]
    elif url.lower().startswith("feed:"):  # feed:https://example.com/rss
        url = url[5:]
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, ""))


def url_key(url: str) -> str:
    """What makes two feed URLs the same feed (a trailing slash does not count)."""
    return normalise_url(url).rstrip("/")


def host_of(url: str) -> str:
    try:
        return urlsplit(url).hostname or url
    except ValueError:
        return url


_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215 local-use prefix
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d (also :: and ::1)
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT ::ffff:0:a.b.c.d
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")  # the only IPv6 space handed out globally


def _low32(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 address carries (each must be public), None when it carries
    none. A form whose IPv4 part cannot be told for sure yields 0.0.0.0, which is refused."""
    if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d
        return [ip.ipv4_mapped]
    if ip in _IPV4_COMPATIBLE or ip in _IPV4_TRANSLATED or ip in _NAT64:
        return [_low32(ip)]
    if ip in _NAT64_LOCAL:
        # A network-specific prefix: only the /96 layout (zeros between prefix and IPv4)
        # can be read with certainty; any other layout is refused.
        middle = (int(ip) >> 32) & ((1 << 48) - 1)
        return [_low32(ip) if middle == 0 else ipaddress.IPv4Address(0)]
    if ip.sixtofour is not None:  # 2002:aabb:ccdd::/48
        return [ip.sixtofour]
    if ip.teredo is not None:  # 2001:0::/32: the server and the (obfuscated) client
        return list(ip.teredo)
    return None


def _public_ipv4(ip: ipaddress.IPv4Address) -> bool:
    return ip.is_global and not (
        ip.is_multicast or ip.is_reserved or ip.is_private or ip.is_loopback
        or ip.is_link_local or ip.is_unspecified
    )  # fmt: skip


def is_public_address(address: str) -> bool:
    """A global unicast address we may connect to for an untrusted source.

    Refused: private, loopback, link-local, multicast, reserved, unspecified and shared
    ranges, and any IPv6 outside 2000::/3. An IPv4 address inside IPv6 (IPv4-mapped
    ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, SIIT ::ffff:0:a.b.c.d, NAT64 64:ff9b::/96 and
    64:ff9b:1::/48, 6to4 2002::/16, Teredo 2001::/32) is judged as the IPv4 address it
    carries, since that is where the packets end up. A string that is not an address is not
    public."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return _public_ipv4(ip)
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return all(_public_ipv4(v4) for v4 in embedded)
    return (
        ip in _GLOBAL_UNICAST
        and ip.is_global
        and not (ip.is_multicast or ip.is_reserved or ip.is_private or ip.is_site_local)
    )


def check_url(
    url: str, allow_private: bool, resolve: Resolver = socket.getaddrinfo
) -> tuple[str, str] | None:
    """None when the URL may be added, else (i18n reason key, detail)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "refuse_bad_url", url
    if parts.scheme.lower() not in WEB_SCHEMES:
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
    private = sorted(a for a in addresses if not is_public_address(a))
    if private:
        return "refuse_private", f"{host} → {', '.join(private)}"
    return None


def sqlite_file(url: str) -> Path | None:
    """The file of a sqlite:/// URL, also in SQLite's URI form (sqlite:///file:PATH?mode=ro&
    uri=true); None for another database or an in-memory one."""
    if not url.startswith("sqlite:///"):
        return None
    target = url.removeprefix("sqlite:///")
    if target.startswith("file:"):
        target = target.removeprefix("file:").partition("?")[0]
    return Path(target) if target and target != ":memory:" else None
