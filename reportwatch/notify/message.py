"""Alert messages: a story (or a digest of stories, or a channel's backlog summary) as plain
text and as Markdown, with feed text made inert and the platforms' byte limits kept.

Feed text is hostile: a title must not format the message, link elsewhere or mention people.
Markdown gets every special character escaped; "@" gets an invisible WORD JOINER after it (so
"@all" / "@所有人" mention nobody); "<" and ">" become their full-width forms (no <at …> or
<@id> tag); links are only http(s) and are percent-encoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from reportwatch.urls import is_web_url

WORD_JOINER = "\u2060"
# Markdown specials as their full-width forms: inert in every chat's Markdown (WeCom's robot
# shows backslash escapes literally) and still readable.
_MD_WIDE = str.maketrans({c: chr(ord(c) + 0xFEE0) for c in "\\`*_{}[]()#+-!|~$"})
# What chat clients turn into links in plain text: "scheme://" and "www." get a WORD JOINER.
_AUTOLINK = re.compile(r"(?<=[A-Za-z0-9]):(?=//)|(?i:www)(?=\.)")
_MENTION = re.compile(r"[@＠]")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class StoryNote:
    """What a message says about one story."""

    title: str
    link: str | None
    sources: list[str]
    when: datetime
    tags: list[str]
    keywords: list[str] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Message:
    title: str  # a short subject (apprise's title; chats show it first)
    text: str  # plain text
    markdown: str  # the same in Markdown


_ANGLE = str.maketrans({"<": "＜", ">": "＞"})  # no tag a chat parses (<at user_id="all">, <@id>)


def plain(text: str) -> str:
    """Feed text for a plain-text message: one line, no mentions, no tags, no bare links."""
    text = _SPACE.sub(" ", text).strip().translate(_ANGLE)
    text = _AUTOLINK.sub(lambda m: m.group() + WORD_JOINER, text)
    return _MENTION.sub(lambda m: m.group() + WORD_JOINER, text)


def md(text: str) -> str:
    """Feed text for a Markdown message: shown as it reads, formatting nothing."""
    return plain(text).translate(_MD_WIDE)


def safe_link(url: str | None) -> str | None:
    if not url or not is_web_url(url):
        return None
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C") \
        .replace(">", "%3E").replace("\"", "%22")  # fmt: skip


def _time(when: datetime, tz: str) -> str:
    return when.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def story_message(note: StoryNote, tz: str) -> Message:
    link = safe_link(note.link)
    report = "、".join(note.reports) or "reportwatch"
    sources = "、".join(note.sources)
    tags = " ".join(f"#{t}" for t in note.tags)
    words = "、".join(note.keywords[:8])
    subject = f"【{plain(report)}】{plain(note.title)}"
    lines = [subject]
    if link:
        lines.append(link)
    lines.append(f"来源:{plain(sources)} · {_time(note.when, tz)}")
    lines.append(f"标签:{plain(tags)}" + (f"(关键词:{plain(words)})" if words else ""))
    title_md = f"[{md(note.title)}]({link})" if link else md(note.title)
    md_lines = [
        f"**{md(report)}** · {title_md}",
        f"> 来源:{md(sources)} · {_time(note.when, tz)}",
        f"> 标签:{md(tags)}" + (f"(关键词:{md(words)})" if words else ""),
    ]
    return Message(subject, "\n".join(lines), "\n".join(md_lines))


def digest_messages(notes: list[StoryNote], why: str,
                    limit: int | None = None) -> list[tuple[Message, int]]:  # fmt: skip
    """Several stories in as few messages as fit `limit` bytes each (the channel's, for the
    form it sends): [(message, how many of `notes`, in order, it carries)]. No story is cut off;
    one too long for a message alone gets its own, cut by the sender."""
    rows = []
    for note in notes:
        link = safe_link(note.link)
        tags = " ".join(f"#{t}" for t in note.tags)
        text = f"- {plain(note.title)} {link or ''} {plain(tags)}".rstrip()
        title_md = f"[{md(note.title)}]({link})" if link else md(note.title)
        rows.append((text, f"- {title_md} {md(tags)}"))
    out: list[tuple[Message, int]] = []
    start = 0
    while start < len(rows):
        end = start + 1
        while end < len(rows) and (
            limit is None or _digest_size(rows[start : end + 1], why, len(notes)) <= limit
        ):
            end += 1
        out.append((_digest(rows[start:end], why, len(notes), len(out) + 1), end - start))
        start = end
    return out


def _digest(rows: list[tuple[str, str]], why: str, total: int, part: int) -> Message:
    subject = f"reportwatch:{total} 条新报道({why})"
    if len(rows) < total:
        subject += f" · 第 {part} 部分"
    text = "\n".join([subject, *(r[0] for r in rows)])
    markdown = "\n".join([f"**{md(subject)}**", *(r[1] for r in rows)])
    return Message(subject, text, markdown)


def _digest_size(rows: list[tuple[str, str]], why: str, total: int) -> int:
    message = _digest(rows, why, total, 99)
    return max(len(message.text.encode()), len(message.markdown.encode()))


def backlog_message(total: int, recent: int, days: int, tags: list[str]) -> Message:
    watched = " ".join(f"#{t}" for t in tags)
    text = (f"reportwatch 已开始向此处推送 {plain(watched)} 的新报道。开始前已有 {total} 条相关报道"
            f"(最近 {days} 天 {recent} 条),不逐条推送;此后每条新报道推送一次。")  # fmt: skip
    return Message("reportwatch:开始推送", text, md(text))


def test_message(channel: str) -> Message:
    text = f"reportwatch 测试消息:通道「{plain(channel)}」可以送达。"
    return Message("reportwatch 测试", text, md(text))


def fit_bytes(text: str, limit: int, more: str = "\n…") -> str:
    """The text cut to at most `limit` UTF-8 bytes (at a character, with `more` appended when
    cut): WeCom counts bytes, and a Chinese character is three."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = limit - len(more.encode("utf-8"))
    cut = data[: max(room, 0)].decode("utf-8", errors="ignore")
    return cut + more
