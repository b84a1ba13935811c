"""Report files (Markdown + YAML front matter) → validated `Report` objects.

Every problem is reported in plain language and all at once, so an author fixing a
report does not have to play whack-a-mole with one error per save.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, field_validator

from reportwatch.config.settings import name_problem

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")

Text = Annotated[str, StringConstraints(strip_whitespace=True)]
RequiredText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class FaqItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: RequiredText
    a: RequiredText


class Report(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: Annotated[str, StringConstraints(pattern=SLUG_RE.pattern)]
    title: RequiredText
    kind: RequiredText
    author: RequiredText
    tags: list[str]
    summary: RequiredText
    tldr: Text = ""
    verified: dt.date | None = None
    faq: list[FaqItem] = []
    method: Text = ""
    updates: Text = ""
    body: str  # the Markdown after the front matter
    path: str

    @field_validator("tags")
    @classmethod
    def _clean_tags(cls, tags: list[str]) -> list[str]:
        # Authors copy tags from pages that write them "#标签"; store them bare.
        if not tags:
            raise ValueError("needs at least one tag, like [微信电商, 腾讯]")
        cleaned = [t.strip().lstrip("#").strip() for t in tags]
        problems = [
            f"item {i}: tag is empty"
            if not t
            else f"item {i}: {t!r} looks like several tags; list them like [微信电商, 视频号电商]"
            for i, t in enumerate(cleaned, 1)
            if not t or "#" in t
        ] + [f"item {i}: the tag {p}" for i, t in enumerate(cleaned, 1) if (p := name_problem(t))]
        if problems:
            raise ValueError("; ".join(problems))
        return cleaned

    @field_validator("verified", mode="before")
    @classmethod
    def _parse_date(cls, value: Any) -> dt.date | None:
        # The YAML loader keeps dates as text, so the message can quote what was written.
        if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
            return value
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                raise ValueError(f"{value!r} is not a real calendar date") from None
        raise ValueError(f"expected a date like 2025-07-30, got {_describe(value)}")

    @property
    def sections(self) -> list[Section]:
        return split_sections(self.body)


# Keys an author may write; body and path come from the file itself.
FRONT_MATTER_KEYS = [k for k in Report.model_fields if k not in ("body", "path")]


@dataclass
class Section:
    level: int  # 1-6 for "#".."######"; 0 for text before the first heading
    heading: str
    markdown: str


_HEADING_RE = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def split_sections(body: str) -> list[Section]:
    """Split Markdown at ATX headings ("## …"), ignoring '#' lines inside code fences."""
    sections: list[Section] = []
    level, heading, lines = 0, "", []
    fence: str | None = None
    for line in body.splitlines():
        fence_match = _FENCE_RE.match(line)
        if fence_match:
            marker = fence_match.group(1)
            if fence is None:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence):
                fence = None
        heading_match = None if fence or fence_match else _HEADING_RE.match(line)
        if heading_match:
            sections.append(Section(level, heading, "\n".join(lines).strip()))
            level, heading, lines = len(heading_match.group(1)), heading_match.group(2), []
        else:
            lines.append(line)
    sections.append(Section(level, heading, "\n".join(lines).strip()))
    # An empty preamble is just the gap before the first heading, not content.
    if sections[0].heading == "" and not sections[0].markdown:
        sections.pop(0)
    return sections


@dataclass
class ReportError:
    path: str
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"field '{self.field}': " if self.field else ""
        return f"{self.path}: {where}{self.message}"


class ReportLoadError(Exception):
    def __init__(self, errors: list[ReportError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


@dataclass
class ReportSet:
    reports: list[Report] = field(default_factory=list)
    errors: list[ReportError] = field(default_factory=list)


class _Loader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys and leaves dates as text."""


# PyYAML turns an impossible date like 2025-02-30 into a bare ValueError; let the model judge.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    # PyYAML silently keeps the last of two equal keys, hiding the author's mistake.
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool):
            continue  # unhashable keys are rejected by construct_mapping itself
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key '{key}' appears twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _describe(value: Any) -> str:
    """Name a YAML value the way an author would recognise it."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


def _translate(err: Any, slug_from_stem: bool) -> tuple[str | None, str]:
    """Turn one pydantic error into (top-level field, plain-language message)."""
    loc, kind, value = err["loc"], err["type"], err.get("input")
    where = ", ".join(f"item {p + 1}" if isinstance(p, int) else f"'{p}'" for p in loc[1:])
    prefix = f"{where}: " if where else ""
    if kind == "missing":
        msg = "required but missing"
    elif kind == "value_error":
        msg = str(err["ctx"]["error"])
    elif kind == "string_too_short" or (kind == "string_type" and value is None):
        msg = "is empty"
    elif kind == "string_type":
        msg = f"expected text, got {_describe(value)}"
        if isinstance(value, int | float | bool):
            msg += "; put it in quotes"
    elif kind == "string_pattern_mismatch":
        msg = (
            f"{value!r} is not a valid slug: use lowercase letters a-z, digits and hyphens,"
            " starting with a letter or digit"
        )
        if slug_from_stem:
            msg += " (it comes from the file name; add a slug: line to the front matter)"
    elif kind == "list_type" and loc == ("tags",) and value is None:
        msg = "is empty; write tags like [微信电商, 腾讯] (an unquoted # starts a YAML comment)"
    elif kind == "list_type":
        hint = "[{q: ..., a: ...}]" if loc[0] == "faq" else "[微信电商, 腾讯]"
        msg = f"expected a list like {hint}, got {_describe(value)}"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        msg = f"expected an entry with q: and a:, got {_describe(value)}"
    elif kind == "extra_forbidden":
        msg = "unknown key (allowed: q, a)"
    else:
        msg = err["msg"]
    return (str(loc[0]) if loc else None), prefix + msg


def _split_front_matter(text: str) -> tuple[str, str] | None:
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        return None
    for i in range(1, len(lines)):
        if lines[i].rstrip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1 :]).lstrip("\r\n").rstrip()
    return None


def load_report(path: Path, *, taken: MutableMapping[str, str] | None = None) -> Report:
    """Load one report. `taken` maps slug → path of reports already loaded (for duplicates)."""
    where = str(path)

    def fail(message: str, field_name: str | None = None) -> ReportLoadError:
        return ReportLoadError([ReportError(where, field_name, message)])

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read the file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")  # -sig: editors on Windows like to add a BOM
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise fail(
            f"is not valid UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line});"
            " save the file as UTF-8"
        ) from None

    parts = _split_front_matter(text)
    if parts is None:
        raise fail(
            "no front matter: the file must start with a '---' line, then the YAML keys,"
            " then a closing '---' line"
        )
    front, body = parts
    try:
        data = yaml.load(front, Loader=_Loader)  # _Loader is a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        if "\\t" in problem or "\t" in problem:
            problem += " (YAML does not allow tabs for indentation; use spaces)"
        # +2: mark.line is 0-based and the front matter starts after the opening '---'.
        at = f" at line {mark.line + 2}, column {mark.column + 1}" if mark else ""
        context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and start:
            problem += f" ({context} that started on line {start.line + 2})"
        raise fail(f"front matter is not valid YAML{at}: {problem}") from None
    if data is None:
        data = {}  # empty front matter: report each missing field below
    if not isinstance(data, dict):
        raise fail(f"front matter must be 'key: value' lines, got {_describe(data)}")

    errors: list[ReportError] = []
    for key in data:
        if key not in FRONT_MATTER_KEYS:
            close = difflib.get_close_matches(str(key), FRONT_MATTER_KEYS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            allowed = ", ".join(FRONT_MATTER_KEYS)
            errors.append(ReportError(where, str(key), f"unknown key{hint} (allowed: {allowed})"))
    fields = {k: v for k, v in data.items() if k in FRONT_MATTER_KEYS}
    slug_from_stem = "slug" not in fields
    fields.setdefault("slug", path.stem)

    slug = fields["slug"]
    if taken is not None and isinstance(slug, str) and slug in taken:
        errors.append(ReportError(where, "slug", f"'{slug}' is already used by {taken[slug]}"))

    report: Report | None = None
    try:
        report = Report(**fields, body=body, path=where)
    except ValidationError as exc:
        for err in exc.errors():
            name, message = _translate(err, slug_from_stem)
            errors.append(ReportError(where, name, message))
    if errors or report is None:
        raise ReportLoadError(errors)
    if taken is not None:
        taken[report.slug] = where
    return report


def load_reports(directory: Path) -> ReportSet:
    """Load every *.md in `directory`; a bad file is recorded and the rest still load."""
    result = ReportSet()
    if not directory.is_dir():
        result.errors.append(ReportError(str(directory), None, "reports directory not found"))
        return result
    taken: dict[str, str] = {}
    for path in sorted(p for p in directory.glob("*.md") if p.is_file()):
        try:
            result.reports.append(load_report(path, taken=taken))
        except ReportLoadError as exc:
            result.errors.extend(exc.errors)
    return result
