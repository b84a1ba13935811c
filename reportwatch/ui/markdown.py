"""Turning hostile feed text into inert Markdown: every special character escaped."""

from __future__ import annotations

import re

from reportwatch.urls import is_web_url

# CommonMark lets any ASCII punctuation be backslash-escaped; Streamlit adds :directives[],
# :emoji: shortcodes and $LaTeX$, all of which are punctuation too.
_SPACE = re.compile(r"\s+")
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&\"'=/^%@;?,])")


# GFM turns bare URLs and e-mail addresses into links *after* escapes are resolved, so
# backslashes cannot stop it (an address became a mailto: link). An invisible WORD JOINER
# splits what its patterns need: "scheme://", "www." and "@".
_WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?<=[A-Za-z0-9]):(?=//)|(?i:www)(?=\.)|(?=@)")


def escape_markdown(text: str) -> str:
    """Text that Streamlit's Markdown shows literally: no links (not even bare URLs or
    addresses), images, HTML, math or markup."""
    flat = _SPACE.sub(" ", text)  # newlines could start a block (heading, list, fence)
    flat = _AUTOLINK.sub(lambda m: m.group() + _WORD_JOINER, flat)
    return _SPECIAL.sub(r"\\\1", flat)


def markdown_link(label: str, url: str | None, spans: list[tuple[int, int]] | None = None) -> str:
    """A Markdown link for http(s) URLs; plain escaped text for anything else.

    `spans` (character ranges of `label`) are shown in bold, e.g. the matched keywords."""
    text = highlight(label, spans) if spans else escape_markdown(label)
    if not is_web_url(url):
        return text
    assert url is not None
    # Percent-encode what could end the link target or open markup.
    target = (
        url.replace(" ", "%20")
        .replace("(", "%28")
        .replace(")", "%29")
        .replace("<", "%3C")
        .replace(">", "%3E")
    )
    return f"[{text}]({target})"


def highlight(text: str, spans: list[tuple[int, int]]) -> str:
    """Escaped text with the given character spans in bold."""
    out, pos = [], 0
    for start, end in spans:
        if start < pos or end <= start:
            continue
        out.append(escape_markdown(text[pos:start]))
        out.append(f"**{escape_markdown(text[start:end])}**")
        pos = end
    out.append(escape_markdown(text[pos:]))
    return "".join(out)
