"""reportwatch.ui.markdown: feed text becomes Markdown that shows exactly that text, nothing live.
(The same payloads are checked in a real browser in tests/test_hostile_browser.py.)"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from reportwatch.ui.markdown import escape_markdown, highlight, markdown_link
from reportwatch.urls import is_web_url as is_safe_link

WORD_JOINER = "\u2060"


def shown(markdown: str) -> str:
    """What a reader sees: backslash escapes resolved, invisible word joiners gone."""
    return re.sub(r"\\(.)", r"\1", markdown).replace(WORD_JOINER, "")


@given(st.text().map(lambda t: t.replace(WORD_JOINER, "")))
def test_escaped_text_shows_exactly_the_text(text: str) -> None:
    assert shown(escape_markdown(text)) == re.sub(r"\s+", " ", text)


@given(st.text(alphabet=st.sampled_from("ab:/@.w[]()!<>`*_$\\&#h t")))
def test_no_special_character_is_left_unescaped(text: str) -> None:
    escaped = escape_markdown(text)
    assert not re.search(r"(?<!\\)[\[\]()$:<>!#`*_@&]", escaped.replace("\\\\", ""))


def test_bare_urls_and_addresses_do_not_become_links() -> None:
    # GFM links these after escapes are resolved; a word joiner breaks each pattern.
    assert escape_markdown("http://a.example/x").startswith(f"http\\:{WORD_JOINER}\\/\\/")
    assert f"HTTPS\\:{WORD_JOINER}\\/\\/" in escape_markdown("HTTPS://a.example")
    assert f"www{WORD_JOINER}\\." in escape_markdown("see www.a.example")
    assert f"WWW{WORD_JOINER}\\." in escape_markdown("WWW.A.EXAMPLE")
    assert f"me{WORD_JOINER}\\@a" in escape_markdown("me@a.example")
    assert f"mailto\\:me{WORD_JOINER}\\@" in escape_markdown("mailto:me@a.example")
    assert WORD_JOINER not in escape_markdown("10:00 腾讯 a.b")  # ordinary text is untouched


def test_links_are_http_or_https_only() -> None:
    for url in (
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:x",
        "file:///etc/passwd",
        "//evil.example/x",
        "http:///nohost",
        "http://[broken",
        None,
        "",
    ):
        assert not is_safe_link(url), url
        assert markdown_link("标题", url) == "标题"
    assert markdown_link("x", "https://a.example/p?q=(1)") == "[x](https://a.example/p?q=%281%29)"
    assert markdown_link("x", "http://a.example/a b<c>") == "[x](http://a.example/a%20b%3Cc%3E)"


def test_highlight_escapes_inside_and_outside_the_bold() -> None:
    text = "腾讯 <script>x</script> [a](javascript:b)"
    out = highlight(text, [(0, 2), (3, 11)])
    assert out.startswith("**腾讯** **\\<script\\>**")
    assert shown(out.replace("**", "")) == text
