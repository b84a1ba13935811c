"""The compiled scanner (reportwatch/match/_scan.c) gives exactly what the Python matcher gives.

Analysts see the same tags whichever path matched an entry: the scanner's answers are
compared with Matcher.match_python on the quality set, real feeds, every BMP character and
random text built from the characters that make normalisation hard.
"""

from __future__ import annotations

import gc
import glob
import re
import unicodedata
import weakref
from pathlib import Path

import feedparser
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reportwatch.config.settings import TagRule, load_config
from reportwatch.match import boilerplate, scanner
from reportwatch.match.matcher import compile_rules, normalise
from tests.corpus import LOCAL_FEEDS

ROOT = Path(__file__).resolve().parents[1]


def shipped_plus_edge_rules() -> dict[str, TagRule]:
    """The shipped rules, plus the forms the scanner must honour: Latin word boundaries,
    ^anchors, title_only, a|b groups, none: and a keyword with a space."""
    rules = load_config(ROOT / "sources.yaml").config.rules()
    extra = {
        "ai": {"any": ["AI", "^Apple", "c++", "ai 助手"], "none": ["said"]},
        "segment": {"any": ["^小店"], "title_only": ["店铺"], "all": ["商家|卖家"]},
        "fullwidth": {"any": ["ＧＭＶ", "１１・１１"]},
    }
    rules |= {k: TagRule.model_validate(v) for k, v in extra.items()}
    return rules


def test_the_scanner_is_built() -> None:
    """`make test` installs with a C compiler: the fast path must be there (issue 4's speed)."""
    assert scanner.Scanner is not None


@pytest.fixture(scope="module")
def matcher():
    m = compile_rules(shipped_plus_edge_rules())
    m.match("")  # builds the automata
    assert m._scanner is not None, "the shipped rules must be compiled into the scanner"
    return m


def quality_items() -> list[tuple[str, str, list[str]]]:
    doc = yaml.safe_load((ROOT / "tests/data/quality.yaml").read_text("utf-8"))
    return [(i["title"], i.get("summary", ""), i.get("categories", [])) for i in doc["items"]]


def feed_items() -> list[tuple[str, str, list[str]]]:
    out = []
    for path in sorted(glob.glob(str(LOCAL_FEEDS / "chinese-real/**/*.xml"), recursive=True)):
        for e in feedparser.parse(path).entries:
            cats = [t.get("term") or "" for t in e.get("tags", [])]
            out.append((e.get("title", ""), e.get("summary", ""), cats))
    return out


def test_same_tags_as_python_on_quality_set_and_real_feeds(matcher) -> None:
    items = quality_items() + feed_items()
    assert len(items) > 300
    for title, summary, cats in items:
        assert matcher.match(title, summary, cats) == matcher.match_python(title, summary, cats)


# Characters that make normalisation hard: full-width forms, combining marks, Hangul jamo,
# odd spaces, markup and entities, expansions (…, ﬁ, ㈱), case (İ, ß, Σ), traditional forms,
# segment marks, and the letters and words of the rules.
TRICKY = (
    "腾讯騰訊微信視頻号视频号小店电商商家卖家店铺苹果ＴＥＮＣＥＮＴtencentTencentＧＭＶgmv"
    "aAiIｉＩ1１・+＋:：|｜?？!！丨 \u3000\xa0\t\n\r\x0b\x85\u2028"
    "<>&;#xp/é\u0301\u0308\u1100\u1161\u11a8\u3131ﬁ…㈱İßΣσς\x00\U0001f600𝐀"
)
texts = st.text(alphabet=TRICKY, max_size=30) | st.sampled_from(
    ["腾讯 AI 助手", "said AI", "Apple: ^小店 商家", "c++ 视频号", "本文来自微信公众号 腾讯", "GMV"]
)


@settings(max_examples=600, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts, texts, st.lists(texts, max_size=3))
def test_same_tags_as_python_on_tricky_text(matcher, title, summary, cats) -> None:
    assert matcher.match(title, summary, cats) == matcher.match_python(title, summary, cats)


def test_every_bmp_character_normalises_as_python_does(matcher) -> None:
    norm = matcher._scanner.normalise
    for code in range(0x10000):
        text = f"a {chr(code)}b"
        got = norm(text)
        if got is not None:  # None: that character goes the Python way
            assert got == normalise(text), hex(code)


def test_table_checked_by_blocks_equals_the_table_checked_per_character() -> None:
    values, expand = scanner.normalisation_tables()
    table = memoryview(values).cast("I")
    extra = memoryview(expand).cast("I")
    for code in range(0x10000):
        want, got = scanner.char_value(code), table[code]
        if isinstance(want, str) and len(want) > 1:
            offset, length = (got & ~scanner.EXPAND) >> 8, got & 0xFF
            assert "".join(map(chr, extra[offset : offset + length])) == want, hex(code)
        else:
            assert got == (want if isinstance(want, int) else ord(want)), hex(code)


def test_every_boilerplate_phrase_starts_with_a_marker() -> None:
    """The scanner only strips boilerplate where a marker is: the markers must be certain."""
    markers = tuple(boilerplate.markers() or ())
    assert markers
    samples = [normalise(s) for t, s, _ in quality_items() + feed_items()]
    samples += [
        normalise(x)
        for x in (
            "本文来自微信公众号“科技前沿”（ID：techfront），作者：张三。",
            "欢迎关注我们的微信公众号：AppSolution（微信号：appsolution）",
            "（来源：腾讯新闻） 分享到：微信 朋友圈 QQ空间 微博 原文链接：https://x.cn/a",
            "我的微信是： kw123 欢迎与我切磋讨论。微信 KWong 扫码加微信好友 腾讯科技讯 腾讯网）",
        )
    ]
    found = 0
    for pattern in boilerplate.patterns():
        rx = re.compile(pattern, re.IGNORECASE)
        for text in samples:
            for m in rx.finditer(text):
                found += 1
                assert m.group().casefold().startswith(markers), (pattern, m.group())
    assert found > 20


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (
            "腾讯(?:新闻|网)\\s*[)）]",
            {"腾讯新闻 ", "腾讯新闻)", "腾讯新闻）", "腾讯网 ", "腾讯网)", "腾讯网）"},
        ),
        ("微信号?[:：]", {"微信号:", "微信号：", "微信:", "微信："}),
        ("关注[^。]{0,9}公众号", {"关注", "关注公众号"}),
        ("来源\\S+", {"来源"}),
        ("(?:a|.)b", None),  # '.' could be anything: nothing certain
    ],
)
def test_match_prefixes(pattern: str, expected: set[str] | None) -> None:
    assert scanner.match_prefixes(pattern) == expected


def test_without_the_scanner_python_matches_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scanner, "Scanner", None)
    m = compile_rules(shipped_plus_edge_rules())
    assert [t.tag for t in m.match("腾讯上线微信小店", "", [])] == ["微信电商", "腾讯"]
    assert m._scanner is None


def test_a_dropped_matcher_is_freed() -> None:
    """The scanner calls back into its Matcher: the cycle must not keep old rule sets alive
    (the app compiles a new matcher whenever sources.yaml changes)."""
    m = compile_rules(shipped_plus_edge_rules())
    m.match("腾讯")
    ref = weakref.ref(m)
    del m
    gc.collect()
    assert ref() is None


def test_characters_beyond_the_bmp_and_unicode_data_agree(matcher) -> None:
    assert unicodedata.normalize("NFKC", "𝐀") == "A"
    assert matcher.match("𝐓𝐞𝐧𝐜𝐞𝐧𝐭 earnings") == matcher.match_python("𝐓𝐞𝐧𝐜𝐞𝐧𝐭 earnings")
    assert [t.tag for t in matcher.match("𝐓𝐞𝐧𝐜𝐞𝐧𝐭 earnings")] == ["腾讯"]


def test_a_very_large_rule_set_walks_fail_links_with_the_same_tags() -> None:
    """Past 16 MB of transition table the scanner walks fail links instead: same answers."""
    import random

    rnd = random.Random(5)
    alphabet = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    keywords = ["".join(rnd.choices(alphabet, k=4)) for _ in range(4000)]
    rules = {f"t{i}": TagRule.model_validate({"any": keywords[i::40]}) for i in range(40)}
    m = compile_rules(rules)
    m.match("")
    assert m._scanner is not None
    texts = ["".join(rnd.choices(alphabet, k=60)) + rnd.choice(keywords) for _ in range(300)]
    for i, text in enumerate(texts):
        assert m.match(text, texts[i - 1], []) == m.match_python(text, texts[i - 1], [])
    assert sum(bool(m.match(t)) for t in texts) == len(texts)


def test_long_text_of_expanding_characters(matcher) -> None:
    """Characters NFKC spells with several (㍖ is five) make the scanner's buffer grow
    mid-field; a long run of them must come out whole."""
    text = "㍖…" * 20000 + " 腾讯 Tencent"
    assert matcher._scanner.normalise(text) == normalise(text)
    assert matcher.match(text, text) == matcher.match_python(text, text)
    assert [m.tag for m in matcher.match(text)] == ["腾讯"]
