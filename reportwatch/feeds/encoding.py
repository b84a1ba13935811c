"""Encoding repair before feedparser sees a feed's bytes.

Real-world (largely Chinese) feeds declare GB2312 but use GBK/GB18030 characters, put UTF-8
under a Latin-1 or unknown label, or hide the XML prolog behind whitespace. We decode with
what the bytes really are and hand feedparser UTF-8 with a matching prolog and header.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from functools import lru_cache

_XML_DECL = re.compile(rb"\A<\?xml\b[^>]*>")
_DECL_ENC = re.compile(rb"""encoding\s*=\s*["']([^"']*)["']""")
_XML_DECL_TEXT = re.compile(r"\A<\?xml\b[^>]*>")
_GB = frozenset({"gb2312", "gbk", "gb18030", "hz"})
_CHARSET = re.compile(r""";\s*charset\s*=\s*["']?([^"';\s]+)""", re.IGNORECASE)
_UNICODE_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _codec(name: str | None) -> str | None:
    """Canonical codec name; None when not declared, "" when the name is unknown."""
    if not name or not name.strip():
        return None
    try:
        return codecs.lookup(name.strip()).name
    except LookupError:
        return ""


@lru_cache(maxsize=64)
def _single_byte(codec: str) -> bool:
    return len(bytes(range(256)).decode(codec, "replace")) == 256


def _mostly_utf8(body: bytes) -> bool:
    """A few bad bytes (truncated download, one stray byte) in otherwise UTF-8 text."""
    text = body.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    good = sum(1 for ch in text if ord(ch) > 127) - bad
    return good >= 2 * bad


def _choose_encoding(body: bytes, forced: str | None, declared: str | None) -> str | None:
    """The encoding to transcode from, or None to leave the bytes to feedparser."""
    if forced and (c := _codec(forced)):
        return "gb18030" if c in _GB else c
    c = _codec(declared)
    if c in _GB:
        return "gb18030"  # superset of GB2312/GBK; feedparser chokes on chars outside gb2312
    if c and c.startswith(("utf-16", "utf-32")):
        # Declared 16/32-bit but starts with a bare ASCII "<": the prolog lies (it's UTF-8).
        return "utf-8" if body.startswith(b"<") else None
    if c in (None, "", "utf-8") or (c and _single_byte(c)):
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return "utf-8" if c in (None, "utf-8") and _mostly_utf8(body) else None
        # Clean UTF-8 with non-ASCII under a Latin/unknown label is UTF-8 (miniflux cases).
        return "utf-8" if c == "" or (c != "utf-8" and not body.isascii()) else None
    return None


def repair_encoding(
    body: bytes, headers: Mapping[str, str] | None, forced: str | None
) -> tuple[bytes, dict[str, str], str | None]:
    """Repair encoding problems before feedparser sees the bytes; returns (body, headers, note)."""
    hdrs = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    if body.startswith(_UNICODE_BOMS) and not forced:
        return body, hdrs, None  # feedparser handles UTF-16/32 BOMs itself
    bom = body.startswith(codecs.BOM_UTF8)
    body = body[3:] if bom else body
    stripped = body.lstrip(b" \t\r\n")
    if stripped.startswith(b"<"):
        body = stripped  # whitespace before <?xml hides the prolog and breaks expat
    decl = _XML_DECL.match(body)
    m = _DECL_ENC.search(decl.group()) if decl else None
    xml_enc = m.group(1).decode("ascii", "replace") if m else None
    charset = _CHARSET.search(hdrs.get("content-type", ""))
    declared = "utf-8" if bom else (charset.group(1) if charset else xml_enc)
    real = _choose_encoding(body, forced, declared)
    if real is None:
        return body, hdrs, None
    text = body.decode(real, "replace").lstrip("\ufeff")
    new_decl = '<?xml version="1.0" encoding="utf-8"?>'
    text = _XML_DECL_TEXT.sub(new_decl, text) if text.startswith("<?xml") else new_decl + text
    if "content-type" in hdrs:
        mime = hdrs["content-type"].split(";")[0].strip() or "application/xml"
        hdrs["content-type"] = mime + "; charset=utf-8"
    note = None
    if declared and _codec(declared) != _codec(real):
        note = f"declared encoding {declared!r}, decoded as {real}"
    return text.encode("utf-8"), hdrs, note
