"""Appending sources to sources.yaml with ruamel.yaml, keeping the file as the analyst wrote it.

A full round-trip dump keeps comments but re-flows hand-wrapped flow lists and re-indents the
whole file. So when `sources:` is a block list (the usual case) the new items are rendered by
ruamel on their own and inserted as lines after the last source: every other byte of the file
stays as it was. Anything unusual (flow style, no list yet) falls back to the round-trip dump.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq


class YamlEditError(ValueError):
    """The text is not a configuration we can add sources to."""


def _yaml(mapping: int = 2, sequence: int = 4, offset: int = 2) -> YAML:
    yaml = YAML()  # round-trip mode: comments, key order and quoting survive
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long URL onto a second line
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def load(text: str) -> CommentedMap:
    data = _yaml().load(text)
    if data is None:
        return CommentedMap()
    if not isinstance(data, CommentedMap):
        raise YamlEditError("expected a mapping of settings at the top level")
    return data


def _items(sources: Sequence[tuple[str, str]], origin: str | None) -> list[CommentedMap]:
    extra = [("origin", origin)] if origin is not None else []
    return [CommentedMap([("name", name), ("url", url), *extra]) for name, url in sources]


def _render(items: list[CommentedMap], dash_col: int, content_col: int) -> list[str]:
    """The items as block-list lines, indented like the file's existing items."""
    out = io.StringIO()
    _yaml(mapping=2, sequence=2, offset=0).dump(CommentedSeq(items), out)
    lines = []
    for line in out.getvalue().splitlines():
        if line.startswith("- "):
            lines.append(" " * dash_col + "-" + " " * (content_col - dash_col - 1) + line[2:])
        else:  # continuation of an item (its other keys), 2 columns in from the dash
            lines.append(" " * (content_col - 2) + line)
    return [line + "\n" for line in lines]


def _insert(text: str, data: CommentedMap, items: list[CommentedMap]) -> str | None:
    if "sources" not in data:  # a new list at the end of the file
        head = text if not text or text.endswith("\n") else text + "\n"
        return head + "sources:\n" + "".join(_render(items, 2, 4))
    listed = data.get("sources")
    if not isinstance(listed, CommentedSeq) or not listed or listed.fa.flow_style():
        return None
    lines = text.splitlines(keepends=True)
    keys = list(data.keys())
    after = keys.index("sources") + 1
    stop = data.lc.key(keys[after])[0] if after < len(keys) else len(lines)
    # Blank lines and top-level comments before the next key introduce that key: keep them there.
    while stop > 0 and (not lines[stop - 1].strip() or lines[stop - 1].startswith("#")):
        stop -= 1
    if stop == 0:
        return None
    if not lines[stop - 1].endswith("\n"):
        lines[stop - 1] += "\n"
    new = _render(items, listed.lc.col, listed.lc.item(len(listed) - 1)[1])
    return "".join(lines[:stop] + new + lines[stop:])


def _dump(data: CommentedMap, items: list[CommentedMap]) -> str:
    listed = data.get("sources")
    if listed is None:
        listed = data["sources"] = CommentedSeq()
    if not isinstance(listed, CommentedSeq):
        raise YamlEditError("'sources' is not a list")
    listed.extend(items)
    out = io.StringIO()
    _yaml().dump(data, out)
    return out.getvalue()


def _listed(data: CommentedMap) -> list[tuple[str, str]]:
    listed = data.get("sources") or []
    return [(str(s.get("name")), str(s.get("url"))) for s in listed if isinstance(s, dict)]


def append_sources(
    text: str,
    sources: Sequence[tuple[str, str]],
    origin: str | None = None,
    data: CommentedMap | None = None,
) -> str:
    """The config text with (name, url) appended to `sources:`, each new item also carrying
    `origin: <origin>` when one is given; comments and layout kept. `data` is `load(text)`
    when the caller has it already (it saves a parse; this may change it)."""
    data = load(text) if data is None else data
    items = _items(sources, origin)
    inserted = _insert(text, data, items)
    if inserted is not None and _reads_back(inserted, data, items):
        return inserted
    return _dump(data, items)


def _reads_back(text: str, data: CommentedMap, items: list[CommentedMap]) -> bool:
    """Trust a line insertion only when it parses to the old settings plus the new sources."""
    try:
        again = load(text)
    except Exception:  # noqa: BLE001 - any parse problem means: use the round-trip dump
        return False
    same = all(again.get(key) == data.get(key) for key in data if key != "sources")
    keys = [key for key in again if key != "sources"] == [key for key in data if key != "sources"]
    old = list(data.get("sources") or [])
    new = list(again.get("sources") or [])
    return same and keys and new == old + items


def existing_sources(text: str | CommentedMap) -> list[tuple[str, str]]:
    """(name, url) of the sources listed in the config text (or in its `load`ed data)."""
    return _listed(load(text) if isinstance(text, str) else text)
