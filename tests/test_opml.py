"""OPML parsing and building, with the quirks of files exported by real feed readers."""

from __future__ import annotations

import pytest

from reportwatch.config.opml import OpmlError, OpmlFeed, build_opml, dedupe, parse_opml

READER_EXPORT = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>Subscriptions in Inoreader</title></head>
  <body>
    <outline text="科技" title="科技">
      <outline text="虎嗅" title="虎嗅网" type="rss" xmlUrl="https://www.huxiu.com/rss/0.xml"
               htmlUrl="https://www.huxiu.com"/>
      <outline text="36氪" type="rss" xmlUrl=" https://36kr.com/feed "/>
      <outline text="深层">
        <outline type="rss" xmlUrl="https://www.ifanr.com/feed"/>
      </outline>
    </outline>
    <outline title="Same feed again" type="rss" xmlUrl="https://www.huxiu.com/rss/0.xml/"/>
    <outline text="Upper case host" type="rss" xmlUrl="HTTPS://36KR.COM/feed"/>
    <outline text="odd attribute case" type="rss" xmlurl="https://www.ithome.com/rss/"/>
    <outline text="Only a website" htmlUrl="https://example.com/"/>
    <outline text="NetNewsWire style" type="rss" xmlUrl="feed://www.tmtpost.com/rss.xml"/>
    <outline text="  多行
       标题\t有空白  " type="rss" xmlUrl="https://sspai.com/feed"/>
  </body>
</opml>"""


def test_real_world_quirks() -> None:
    feeds = parse_opml(READER_EXPORT.encode("utf-8"))
    assert feeds == [
        OpmlFeed("虎嗅网", "https://www.huxiu.com/rss/0.xml"),  # title preferred over text
        OpmlFeed("36氪", "https://36kr.com/feed"),  # whitespace trimmed
        OpmlFeed("www.ifanr.com", "https://www.ifanr.com/feed"),  # no title: the host
        OpmlFeed("odd attribute case", "https://www.ithome.com/rss/"),
        OpmlFeed("NetNewsWire style", "http://www.tmtpost.com/rss.xml"),
        OpmlFeed("多行 标题 有空白", "https://sspai.com/feed"),
    ]


def test_bom_namespaces_and_gbk() -> None:
    body = '<opml version="2.0"><body><outline text="虎嗅" xmlUrl="https://a.example/rss"/></body></opml>'
    assert parse_opml(b"\xef\xbb\xbf" + body.encode())[0].title == "虎嗅"
    gbk = '<?xml version="1.0" encoding="GBK"?>' + body
    assert parse_opml(gbk.encode("gbk"))[0].title == "虎嗅"
    spaced = body.replace("<opml ", '<opml xmlns="http://opml.org/spec2" ')
    assert parse_opml(spaced.encode())[0].url == "https://a.example/rss"


@pytest.mark.parametrize(
    "data",
    [
        # Billion laughs: entity expansion must be refused, not evaluated.
        b"""<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa">
        <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>
        <opml><body><outline text="&c;" xmlUrl="https://x.example/"/></body></opml>""",
        # An external entity would read a local file.
        b"""<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]>
        <opml><body><outline text="&x;" xmlUrl="https://x.example/"/></body></opml>""",
        b"<opml><body><outline",  # truncated
        b"<rss><channel/></rss>",  # not OPML
        b"",
        b"\x00\x01binary",
    ],
)
def test_hostile_and_broken_files_are_refused(data: bytes) -> None:
    with pytest.raises(OpmlError):
        parse_opml(data)


def test_size_cap() -> None:
    with pytest.raises(OpmlError, match="larger"):
        parse_opml(b"<opml>" + b" " * (6 * 1024 * 1024) + b"</opml>")


def test_dedupe_keeps_the_first() -> None:
    feeds = [OpmlFeed("a", "https://x.example/f"), OpmlFeed("b", "https://X.example/f/")]
    assert dedupe(feeds) == [OpmlFeed("a", "https://x.example/f")]


def test_round_trip() -> None:
    sources = [
        ("虎嗅", "https://www.huxiu.com/rss/0.xml"),
        ('Quotes " & <tags>', "https://example.com/rss?a=1&b=2"),
        ("control\x07char", "https://c.example/feed"),
    ]
    data = build_opml(sources)
    assert data.startswith(b"<?xml") and "虎嗅".encode() in data
    assert parse_opml(data) == [
        OpmlFeed("虎嗅", "https://www.huxiu.com/rss/0.xml"),
        OpmlFeed('Quotes " & <tags>', "https://example.com/rss?a=1&b=2"),
        OpmlFeed("control char", "https://c.example/feed"),
    ]
    assert parse_opml(build_opml([])) == []
