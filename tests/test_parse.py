"""reportwatch.feeds.parse against real-world feeds (tests/data/feeds) and synthetic feeds."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reportwatch.feeds import parse as parse_mod
from reportwatch.feeds.parse import parse_entries, plain_text
from reportwatch.models import ParsedFeed
from reportwatch.urls import normalise_link, safe_link
from tests.corpus import LOCAL_FEEDS as FEEDS


def _rss(
    items: str, channel: str = "", decl: str = '<?xml version="1.0" encoding="utf-8"?>'
) -> bytes:
    channel = f"<channel><title>T</title>{channel}{items}</channel>"
    return f'{decl}<rss version="2.0">{channel}</rss>'.encode()


# ------------------------------------------------------------------ encodings


def _utf8_titles(body: bytes) -> list[str]:
    return [m.decode("utf-8") for m in re.findall(rb"<title>([^<]*)</title>", body)]


@pytest.mark.parametrize("name", ["utf8-incorrect-prolog.xml", "invalid-prolog.xml"])
def test_miniflux_utf8_under_wrong_prolog(name: str) -> None:
    body = (FEEDS / "miniflux" / name).read_bytes()
    feed_title, entry_title = _utf8_titles(body)
    result = parse_entries(body)
    assert result.is_feed
    assert result.title == feed_title == "테스트 피드"
    assert result.entries[0].title == entry_title == "Café"


def test_utf8_declared_utf16_and_truncated_utf8() -> None:
    body = (FEEDS / "rssant/encoding-chardet/utf-8.not-utf-16.xml").read_bytes()
    result = parse_entries(body)
    assert result.is_feed and len(result.entries) > 100  # feedparser alone finds 0
    assert result.title == _utf8_titles(body)[0]
    # Truncated mid-character: feedparser alone falls back to iso-8859-2 mojibake.
    body = (FEEDS / "rssant/parser-warn/https-tmioe-com-feed.xml").read_bytes()
    result = parse_entries(body)
    assert result.title == _utf8_titles(body)[0]
    assert result.entries and all("Â" not in e.title for e in result.entries)


TITLE_GBK = "朱鎔基 王堃 😀"  # 鎔/堃 are outside GB2312, the emoji needs GB18030's 4-byte form


@pytest.mark.parametrize(
    ("decl", "headers"),
    [
        ('<?xml version="1.0" encoding="gb2312"?>', None),
        ('<?xml version="1.0"?>', {"Content-Type": "application/rss+xml; charset=gbk"}),
        ('<?xml version="1.0" encoding="GBK"?>', {"content-type": "text/xml"}),
    ],
)
def test_gbk_declared_feeds(decl: str, headers: dict[str, str] | None) -> None:
    item = f"<item><title>腾讯 {TITLE_GBK}</title></item>"
    text = f'{decl}<rss version="2.0"><channel><title>{TITLE_GBK}</title>{item}</channel></rss>'
    result = parse_entries(text.encode("gb18030"), headers)
    assert result.title == TITLE_GBK
    assert result.entries[0].title == "腾讯 " + TITLE_GBK


def test_forced_encoding() -> None:
    body = f'<rss version="2.0"><channel><title>{TITLE_GBK}</title></channel></rss>'
    assert parse_entries(body.encode("gb18030"), encoding="gbk").title == TITLE_GBK
    latin = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Café</title>'
    assert (
        parse_entries((latin + "</channel></rss>").encode("latin-1"), encoding="latin-1").title
        == "Café"
    )


def test_forced_encoding_on_undeclared_big5() -> None:
    body = (FEEDS / "rssant/encoding-chardet/big5.xml").read_bytes()
    expected = _utf8_titles((FEEDS / "rssant/encoding-chardet/utf-8.xml").read_bytes())[0]
    assert parse_entries(body, encoding="big5").title == expected


# ------------------------------------------------------------------ keys and links


def test_key_link_normalisation() -> None:
    variants = [
        "http://Example.COM/post/1?b=2&a=1",
        "https://example.com/post/1?a=1&b=2&utm_source=rss&utm_medium=feed",
        "https://example.com:443/post/1?a=1&b=2#comments",
        "http://example.com:80/post/1?utm_campaign=x&a=1&b=2",
    ]
    assert {normalise_link(v) for v in variants} == {"//example.com/post/1?a=1&b=2"}
    assert normalise_link("https://example.com/") == normalise_link("http://example.com")
    assert normalise_link("https://example.com/a/") == "//example.com/a/"
    assert normalise_link("https://example.com:8443/a") == "//example.com:8443/a"
    items = "".join(
        f"<item><title>x{i}</title><link>{html.escape(v)}</link></item>"
        for i, v in enumerate(variants)
    )
    result = parse_entries(_rss(items))
    assert [e.title for e in result.entries] == ["x0"]  # duplicates by key: first kept
    assert result.entries[0].key == "//example.com/post/1?a=1&b=2"


def test_key_prefers_guid_and_hash_fallback_is_stable() -> None:
    item = "<item><guid isPermaLink='false'> abc-123 </guid><link>https://e.com/1</link></item>"
    assert parse_entries(_rss(item)).entries[0].key == "abc-123"
    url_guid = "<item><guid>HTTPS://E.com/p?utm_source=x&amp;id=1#comment-7</guid></item>"
    assert parse_entries(_rss(url_guid)).entries[0].key == "//e.com/p?id=1#comment-7"
    bare = "<item><title>Hello</title><description>&lt;b&gt;World&lt;/b&gt;</description></item>"
    k1 = parse_entries(_rss(bare)).entries[0].key
    k2 = parse_entries(_rss(bare, channel="<link>https://other.example/</link>")).entries[0].key
    k3 = parse_entries(_rss(bare.replace("World", "Welt"))).entries[0].key
    assert k1.startswith("sha1:") and k1 == k2 and k1 != k3


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        " JaVaScRiPt:alert(1)",
        "java\nscript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)",
        "ftp://example.com/file",
        "mailto:a@example.com",
        "http://",
        "",
        None,
    ],
)
def test_safe_link_rejects(url: str | None) -> None:
    assert safe_link(url, "https://example.com/") is None


def test_safe_link_resolves_relative() -> None:
    assert safe_link("/p/1", "https://example.com/feed/") == "https://example.com/p/1"
    assert safe_link("p/1", "https://example.com/feed/") == "https://example.com/feed/p/1"
    assert safe_link("//cdn.example.com/x", "https://example.com/") == "https://cdn.example.com/x"
    assert safe_link("/p/1") is None  # nothing to resolve against
    assert safe_link("/p/1", "javascript:x") is None
    assert safe_link(" https://example.com/a b ") == "https://example.com/a b"


def test_entry_links_in_feed() -> None:
    items = (
        "<item><title>a</title><link>javascript:alert(1)</link></item>"
        "<item><title>b</title><link>data:text/html,hi</link></item>"
        "<item><title>c</title><link>/post/3</link></item>"
    )
    result = parse_entries(_rss(items, channel="<link>https://site.example/blog/</link>"))
    assert [e.link for e in result.entries] == [None, None, "https://site.example/post/3"]
    result = parse_entries(_rss(items), base_url="https://base.example/feed.xml")
    assert result.entries[2].link == "https://base.example/post/3"
    assert result.entries[0].key.startswith("sha1:")  # an unsafe link is no key either


# ------------------------------------------------------------------ plain text


def test_plain_text() -> None:
    assert plain_text("<p>before<script>alert(1)</script>after</p>") == "beforeafter"
    assert plain_text("<STYLE>p{color:red}</STYLE><b>腾讯</b>") == "腾讯"
    assert plain_text("&#33150;&#35759;") == "腾讯"
    assert plain_text("&amp;#33150;") == "&#33150;"  # one level of unescaping only
    assert plain_text("  a \n\t b <br/>c<p>d</p>  ") == "a b c d"
    assert plain_text("x<!-- <script>evil()</script> -->y") == "xy"
    assert plain_text("<![CDATA[<i>kept</i>]]>") == "kept"
    assert plain_text("1 < 2 &lt; 3") == "1 < 2 < 3"
    assert plain_text("<p>unclosed <b>tags") == "unclosed tags"
    assert plain_text("<![ junk") == ""  # html.parser raises on this; must not propagate
    assert plain_text("a\x08b\x1bc") == "a b c"


def test_summary_uses_content_and_is_limited() -> None:
    long = "<p>" + "字" * 3000 + "</p>"
    feed = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><id>1</id>'
        f"<content type='html'>{html.escape(long)}</content></entry></feed>"
    )
    summary = parse_entries(feed.encode()).entries[0].summary
    assert summary.startswith("字字") and len(summary) <= 1000 and summary.endswith("…")


def test_authors_and_categories() -> None:
    item = (
        "<item><title>t</title><author>a@example.com (张三)</author>"
        "<category>科技</category><category>&lt;b&gt;AI&lt;/b&gt;</category><category>科技</category>"
        "</item>"
    )
    entry = parse_entries(_rss(item)).entries[0]
    assert entry.authors == ["张三"]
    assert entry.categories == ["科技", "AI"]


TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc")) | st.sampled_from(" \t\n\r"))


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_plain_text_of_escaped_text_is_the_text(s: str) -> None:
    assert plain_text(html.escape(s)) == " ".join(s.split())


SAFE_TEXT = TEXT.map(lambda s: s.replace("<", " ").replace("&", " "))
CHUNK = st.one_of(
    SAFE_TEXT.map(lambda s: (s, s)),
    st.sampled_from(["<b>", "</b>", "<a href='x'>", "</a>", "<span class=x>", "<i/>"]).map(
        lambda t: (t, "")
    ),
    TEXT.map(lambda s: (f"<script>{html.escape(s)}</script>", "")),
    TEXT.map(lambda s: (f"<StYlE>{html.escape(s)}</style>", "")),
    TEXT.map(lambda s: (f"<!--{s.replace('-', '')}-->", "")),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(CHUNK, max_size=12))
def test_plain_text_drops_inline_tags_scripts_and_comments(chunks: list[tuple[str, str]]) -> None:
    source = "".join(markup for markup, _ in chunks)
    assert plain_text(source) == " ".join("".join(text for _, text in chunks).split())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_parse_never_raises_on_junk(body: bytes) -> None:
    assert isinstance(parse_entries(b"<?xml version='1.0'?><rss><channel>" + body), ParsedFeed)
    assert isinstance(parse_entries(body, {"content-type": "text/html; charset=gbk"}), ParsedFeed)


def test_internal_failure_becomes_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr(parse_mod.feedparser, "parse", boom)
    result = parse_entries(_rss("<item><title>x</title></item>"))
    assert result == ParsedFeed(title="", entries=[], is_feed=False, error=result.error)
    assert result.error and "kaput" in result.error


# ------------------------------------------------------------------ dates


def test_zoneless_date_uses_source_timezone() -> None:
    feed = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        b"<entry><id>1</id><updated>2016-10-26T16:53:42</updated></entry>"
        b"<entry><id>2</id><updated>2016-10-26T16:53:42+08:00</updated></entry></feed>"
    )
    utc = parse_entries(feed).entries
    sh = parse_entries(feed, source_timezone="Asia/Shanghai").entries
    assert utc[0].published == datetime(2016, 10, 26, 16, 53, 42, tzinfo=UTC)
    assert sh[0].published == utc[0].published - timedelta(hours=8)
    assert sh[1].published == utc[1].published == datetime(2016, 10, 26, 8, 53, 42, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Wed, 26 Oct 2016 21:53:13", datetime(2016, 10, 26, 13, 53, 13, tzinfo=UTC)),
        ("2016-10-26 16:53:42", datetime(2016, 10, 26, 8, 53, 42, tzinfo=UTC)),
        ("2016/10/26 16:53", datetime(2016, 10, 26, 8, 53, tzinfo=UTC)),
        ("2016年10月26日 16:53", datetime(2016, 10, 26, 8, 53, tzinfo=UTC)),
        ("2016.10.26", datetime(2016, 10, 25, 16, 0, tzinfo=UTC)),
        ("Wed, 26 Oct 2016 21:53:13 CST", datetime(2016, 10, 26, 13, 53, 13, tzinfo=UTC)),
        ("Wed, 26 Oct 2016 21:53:13 +0800", datetime(2016, 10, 26, 13, 53, 13, tzinfo=UTC)),
        ("Wed, 26 Oct 2016 13:53:13 GMT", datetime(2016, 10, 26, 13, 53, 13, tzinfo=UTC)),
        ("not a date", None),
    ],
)
def test_rss_date_formats_in_shanghai(raw: str, expected: datetime | None) -> None:
    # feedparser alone reads "2016/10/26 16:53" as 2016-11-01 and "CST" as US Central.
    item = f"<item><title>t</title><pubDate>{raw}</pubDate></item>"
    assert (
        parse_entries(_rss(item), source_timezone="Asia/Shanghai").entries[0].published == expected
    )


def test_missing_future_and_bad_timezone() -> None:
    fmt = "%a, %d %b %Y %H:%M:%S +0000"
    soon = (datetime.now(UTC) + timedelta(hours=2)).strftime(fmt)
    later = (datetime.now(UTC) + timedelta(days=30)).strftime(fmt)
    items = "".join(
        f"<item><guid>{i}</guid>{d}</item>"
        for i, d in enumerate(["", f"<pubDate>{soon}</pubDate>", f"<pubDate>{later}</pubDate>"])
    )
    result = parse_entries(_rss(items), source_timezone="Not/AZone")
    assert [e.published is not None for e in result.entries] == [False, True, False]
    assert result.error and "Not/AZone" in result.error


def test_smzdm_zoneless_dates_fallback() -> None:
    body = (FEEDS / "chinese-real/tinyxml2-2016/feed.smzdm.com.xml").read_bytes()
    raws = re.findall(rb"<pubDate><!\[CDATA\[([^\]]+)\]\]></pubDate>", body)
    assert len(raws) == 30
    assert all(e.get("published_parsed") is None for e in feedparser.parse(body).entries)
    result = parse_entries(body, source_timezone="Asia/Shanghai")
    got = [e.published for e in result.entries]
    want = [
        datetime.strptime(r.decode(), "%a, %d %b %Y %H:%M:%S").replace(tzinfo=UTC)
        - timedelta(hours=8)
        for r in raws
    ]
    assert got == want


# ------------------------------------------------------------------ feed or not


def test_empty_and_bozo() -> None:
    assert parse_entries(b"").error == "not a feed (empty document)"
    broken = _rss("<item><title>a \x08 b</title></item>")
    result = parse_entries(broken)
    assert result.is_feed and result.entries[0].title == "a b"
    assert result.error and "SAXParseException" in result.error
