"""The feed corpus and the test-harness comments its files carry: feedparser's `Header:`,
`Expect:` and `SkipUnless:` lines.

`LOCAL_FEEDS` (tests/data/feeds) is the part of the workspace's shared corpus that the repository
carries: tests that name a file read it there. `FEEDS` is what the whole-corpus sweeps read: the
shared corpus (../shared/feeds, 400 files) when it is beside the clone, else the repository's copy
(375 files: see tests/data/feeds/SOURCES.md for what was left out and why)."""

from __future__ import annotations

import ast
import codecs
import importlib.util
import os
import re
from pathlib import Path

LOCAL_FEEDS = Path(__file__).resolve().parent / "data" / "feeds"
SHARED_DIR = Path(
    os.environ.get("REPORTWATCH_SHARED", Path(__file__).resolve().parents[2] / "shared")
)
SHARED_FEEDS = SHARED_DIR / "feeds"
FEEDS = SHARED_FEEDS if SHARED_FEEDS.is_dir() else LOCAL_FEEDS
CORPUS = sorted(FEEDS.rglob("*.xml"))


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(FEEDS)) for p in paths]


def header_comment_field(body: bytes, name: str) -> str | None:
    """Value of a "Name: value" line in the leading test-harness comment, if any."""
    m = re.search(rb"^\s*" + name.encode() + rb":\s*(.*?)\s*$", body[:2000], re.MULTILINE)
    return m.group(1).decode("utf-8", "replace") if m else None


def headers(body: bytes) -> dict[str, str] | None:
    """The Content-Type a feedparser case was served with, as response headers."""
    value = header_comment_field(body, "Header")
    if value and value.lower().startswith("content-type:"):
        return {"content-type": value.split(":", 1)[1].strip()}
    return None


def runnable(body: bytes) -> bool:
    """Honour `SkipUnless: __import__('chardet')` / `__import__('codecs').lookup('euc-kr')`."""
    cond = header_comment_field(body, "SkipUnless") or ""
    if m := re.search(r"lookup\('([^']+)'\)", cond):
        try:
            codecs.lookup(m.group(1))
        except LookupError:
            return False
    elif m := re.fullmatch(r"__import__\('(\w+)'\)", cond):
        return importlib.util.find_spec(m.group(1)) is not None
    return True


def from_feedparser(path: Path) -> bool:
    return path.relative_to(FEEDS).parts[0].startswith("feedparser-")


def literal(node: ast.AST) -> str | None:
    """A str constant or a concatenation of them ("'a -' + '- b'"), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = literal(node.left), literal(node.right)
        return None if left is None or right is None else left + right
    return None


def _target(node: ast.AST) -> str | None:
    """ "feed.title", "entry.title" or "entry.summary" for what an Expect comparison names."""
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "ord" and node.args:
        inner = _target(node.args[0])
        return f"ord:{inner}" if inner else None
    if not isinstance(node, ast.Subscript):
        return None
    field = literal(node.slice)
    inner = node.value
    if isinstance(inner, ast.Name) and inner.id == "feed" and field == "title":
        return "feed.title"
    is_first_entry = (
        isinstance(inner, ast.Subscript)
        and getattr(inner.value, "id", None) == "entries"
        and getattr(inner.slice, "value", None) == 0
    )
    if is_first_entry and field == "title":
        return "entry.title"
    if is_first_entry and field in ("description", "summary"):
        return "entry.summary"
    return None


def expectations(body: bytes) -> dict[str, list[str]]:
    """{"feed.title" / "entry.title" / "entry.summary": accepted texts} from an `Expect:` line
    (string equalities, and ord(...) == N), for feedparser's corpus files."""
    try:
        tree = ast.parse(header_comment_field(body, "Expect") or "", mode="eval")
    except SyntaxError:
        return {}
    found: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Compare) and all(isinstance(o, ast.Eq) for o in node.ops)):
            continue
        target = _target(node.left)
        for value in node.comparators:
            if target and target.startswith("ord:") and isinstance(value, ast.Constant):
                found.setdefault(target[4:], []).append(chr(value.value))
            elif target and (text := literal(value)) is not None:
                found.setdefault(target, []).append(text)
    return found
