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


def is_public_address(address: str) -> bool:
    """A global unicast address (an IPv4 address inside IPv6 is judged as IPv4)."""
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
