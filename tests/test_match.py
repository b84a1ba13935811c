"""The matcher: rule forms, normalisation, boilerplate, fingerprint, spans, quality."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reportwatch.config.settings import TagRule, load_config
from reportwatch.match.boilerplate import strip_boilerplate
from reportwatch.match.matcher import (
    Hit,
    compile_rules,
    highlight_spans,
    normalise,
    relevance,
)
from reportwatch.models import Entry

ROOT = Path(__file__).resolve().parents[1]


def rule(**kw: list[str]) -> TagRule:
    return TagRule.model_validate({k.rstrip("_"): v for k, v in kw.items()})


def tags(rules: dict[str, TagRule], title: str, summary: str = "", cats: tuple = ()) -> set[str]:
    return {m.tag for m in compile_rules(rules).match(title, summary, cats)}


# --- rule forms: (rules, title, summary, categories, expected tags) ---
RULE_CASES = [
    # any:
    ({"腾讯": rule(any_=["Tencent"])}, "Tencent posts profit", "", (), {"腾讯"}),
    ({"腾讯": rule(any_=["Tencent"])}, "阿里财报", "", (), set()),
    # the tag's own name always counts
    ({"腾讯": rule(any_=["Tencent"])}, "腾讯财报", "", (), {"腾讯"}),
    # empty rule = own name; extra text around it is fine (Chinese: substring)
    ({"超级应用": TagRule()}, "微信成为超级应用的路径", "", (), {"超级应用"}),
    ({"超级应用": TagRule()}, "超级", "应用", (), set()),
    # all: every item; "a|b" is one item with alternatives
    ({"运营": rule(any_=["复购"], all_=["微信|视频号"])}, "复购秘籍", "视频号商家", (), {"运营"}),
    ({"运营": rule(any_=["复购"], all_=["微信|视频号"])}, "复购秘籍", "淘宝商家", (), set()),
    ({"x": rule(any_=["a1"], all_=["b1", "c1"])}, "a1 b1", "", (), set()),
    ({"x": rule(any_=["a1"], all_=["b1", "c1"])}, "a1 b1", "c1", (), {"x"}),
    # all: narrows a rule; on its own it still needs a positive keyword (here the tag's name)
    ({"x": rule(all_=["b1", "c1"])}, "b1 c1", "", (), set()),
    ({"x": rule(all_=["b1", "c1"])}, "x b1 c1", "", (), {"x"}),
    ({"x": rule(all_=["b1"], none=["d1"])}, "x b1 d1", "", (), set()),
    # none:
    ({"腾讯": rule(none=["腾讯新闻"])}, "腾讯财报", "", (), {"腾讯"}),
    ({"腾讯": rule(none=["腾讯新闻"])}, "腾讯财报", "据腾讯新闻报道", (), set()),
    # title_only: counts in the title, not in the summary or categories
    ({"腾讯": rule(title_only=["微信"])}, "微信上线新功能", "", (), {"腾讯"}),
    ({"腾讯": rule(title_only=["微信"])}, "新功能", "微信上线", (), set()),
    ({"腾讯": rule(title_only=["微信"])}, "新功能", "", ("微信",), set()),
    # title_only restricts a keyword wherever it is listed (here: the tag's own name)
    ({"腾讯": rule(title_only=["腾讯"])}, "阿里财报", "阿里、腾讯、字节", (), set()),
    ({"腾讯": rule(title_only=["腾讯"])}, "腾讯财报", "", (), {"腾讯"}),
    # none: + title_only: = a veto in the title only
    ({"腾讯": rule(title_only=["腾讯系"], none=["腾讯系"])}, "腾讯系公司", "", (), set()),
    ({"腾讯": rule(title_only=["腾讯系"], none=["腾讯系"])}, "腾讯财报", "腾讯系", (), {"腾讯"}),
    # ^: only at the start of a field or headline segment (the headline's subject)
    ({"腾讯": rule(title_only=["^微信"])}, "微信上线新功能", "", (), {"腾讯"}),
    ({"腾讯": rule(title_only=["^微信"])}, "观点：微信不需要成为淘宝", "", (), {"腾讯"}),
    ({"腾讯": rule(title_only=["^微信"])}, "品牌自播进入微信", "", (), set()),
    # categories field
    ({"腾讯": rule(any_=["tencent"])}, "Weekly", "", ("Tech", "Tencent"), {"腾讯"}),
]


@pytest.mark.parametrize(("rules", "title", "summary", "cats", "expected"), RULE_CASES)
def test_rule_forms(rules, title, summary, cats, expected) -> None:
    assert tags(rules, title, summary, cats) == expected


# --- normalisation ---
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＴＥＮＣＥＮＴ　ＷｅＣｈａｔ", "tencent wechat"),  # full-width + ideographic space
        ("TENCENT  \n\t Tencent", "tencent tencent"),
        ("<p>腾讯<b>财报</b></p>", "腾讯 财报"),
        ("騰&#35338; &amp; Co&nbsp;Ltd", "騰訊 & co ltd"),  # numeric + named references
        ("①②", "12"),  # NFKC compatibility characters
        ("a < b and c > d", "a < b and c > d"),  # not markup
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_normalisation_in_matching() -> None:
    rules = {"腾讯": rule(any_=["tencent", "WeChat Channels"])}
    assert tags(rules, "ＴＥＮＣＥＮＴ results") == {"腾讯"}
    assert tags(rules, "TENCENT results") == {"腾讯"}
    assert tags(rules, "新闻", "wechat\n   CHANNELS sales") == {"腾讯"}
    # an explain-style text with markup and a numeric character reference
    assert tags({"腾讯": TagRule()}, "<em>腾&#35759;</em>财报") == {"腾讯"}


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("Apple said it would", False),  # AI inside "said"
        ("Apple AI features", True),
        ("腾讯AI实验室", True),  # CJK next to Latin is a boundary
        ("AI-powered search", True),
        ("MAIN street", False),
        ("ＡＩ帶貨主播", True),
    ],
)
def test_word_boundaries(text: str, hit: bool) -> None:
    assert bool(tags({"AI": TagRule()}, text)) is hit


@pytest.mark.parametrize("text", ["Tencent's WeChat", "TENCENT", "ＴＥＮＣＥＮＴ", "(tencent)"])
def test_latin_keyword_forms(text: str) -> None:
    assert tags({"腾讯": rule(any_=["tencent"])}, text) == {"腾讯"}


def test_tencentric_is_not_tencent() -> None:
    assert tags({"腾讯": rule(any_=["tencent"])}, "Tencentric design") == set()


@pytest.mark.parametrize(
    ("keyword", "text", "reported"),
    [
        ("腾讯", "騰訊財報", "腾讯"),
        ("騰訊", "腾讯财报", "腾讯"),  # hits name the simplified form
        ("视频号电商", "視頻號電商崛起", "视频号电商"),
        ("微信小店", "微信小店", "微信小店"),
    ],
)
def test_traditional_simplified(keyword: str, text: str, reported: str) -> None:
    (match,) = compile_rules({"t": rule(any_=[keyword])}).match(text)
    assert {h.keyword for h in match.hits} == {reported}


def test_hits_fields_and_scores() -> None:
    m = compile_rules({"腾讯": rule(any_=["tencent"]), "超级应用": rule(any_=["super app"])})
    res = m.match("Tencent's super app", "Tencent said", ["Tencent"])
    assert [r.tag for r in res] == ["腾讯", "超级应用"]  # sorted by score
    hits = set(res[0].hits)
    assert hits == {Hit("腾讯", "tencent", f) for f in ("title", "summary", "categories")}
    title_only = m.match("Tencent", "")
    summary_only = m.match("news", "Tencent")
    assert title_only[0].score > summary_only[0].score  # title over summary
    assert relevance(res) > relevance(title_only)  # more tags, higher
    assert relevance([]) == 0


def test_match_entry() -> None:
    e = Entry("k", "视频号带货", "", None, None, categories=["电商"])
    m = compile_rules({"视频号电商": rule(any_=["视频号带货"])}, extra_tags=["电商", "视频号电商"])
    assert m.tags == ["视频号电商", "电商"]
    assert {r.tag for r in m.match_entry(e)} == {"视频号电商", "电商"}


# --- boilerplate (copied from the real feeds in tests/data/feeds) ---
BOILERPLATE = [
    "本文来自微信公众号“晚点LatePost”（ID：postlate），作者：李四，36氪经授权发布。",
    "#欢迎关注爱范儿认证微信公众号：AppSolution（微信号：appsolution），发现新酷精华应用。",
    "你还可以通过微博：@Mac玩儿法;微信公众号： @Mac玩儿法，或者到各大自媒体平台关注我们的同名账号",
    "关注CoolShell微信公众账号可以在手机端搜索文章",
    "微信搜索“阮一峰的网络日志”或者扫描二维码，即可订阅。",
    "欢迎大家与我联系，切磋讨论。我的微信是 ：196215239",
    "我是 36 氪汽车记者，欢迎与我切磋讨论。微信 KatherineLWong",
    "联系：私人微信：yangjiawei1210",
    "分享到：微信 朋友圈 QQ空间 微博",
    "如果觉得有用，请分享到微信/QQ。",
    "微信扫一扫，分享到朋友圈",
    "扫码加微信，进读者群。",
    "长按识别二维码，关注我们的微信公众号。",
    "（本文首发于微信公众号“汽车之家”，转载请注明出处）",
    "本文來自微信公眾號“科技前沿”，作者：張三。",  # traditional
    "本文来自微信公众号“科技前沿”，作者：张三。".translate({0x3001: 0xFF0C}),
    "（来源：腾讯新闻）",
    "来源：腾讯科技",
    "腾讯科技讯 6月28日消息，",
]


@pytest.mark.parametrize("text", BOILERPLATE)
def test_strip_boilerplate(text: str) -> None:
    out = strip_boilerplate(text)
    assert "微信" not in out and "腾讯" not in out and "公众号" not in out, out
    assert "微信" not in normalise(strip_boilerplate(normalise(text)))


@pytest.mark.parametrize(
    "text", ["微信小店上线扫码购", "微信扫码点餐普及", "微信公众号改版", "腾讯科技发布财报"]
)
def test_strip_boilerplate_keeps_news(text: str) -> None:
    assert strip_boilerplate(text) == text


def test_boilerplate_does_not_match_but_news_does() -> None:
    rules = {"腾讯": rule(any_=["微信"])}
    assert tags(rules, "苹果财报", "营收超预期。" + BOILERPLATE[0]) == set()
    assert tags(rules, "苹果财报", "营收超预期。（来源：腾讯新闻）") == set()
    assert tags(rules, "苹果财报", "微信小店也受益。" + BOILERPLATE[0]) == {"腾讯"}


# --- fingerprint ---
def test_fingerprint() -> None:
    base = {"腾讯": rule(any_=["Tencent", "騰訊"]), "x": rule(all_=["a|b"])}
    fp = compile_rules(base).fingerprint
    assert len(fp) == 64 and fp == compile_rules(base).fingerprint
    same = {"x": rule(all_=["b|a"]), "腾讯": rule(any_=["騰訊", "ＴＥＮＣＥＮＴ", "tencent"])}
    assert compile_rules(same).fingerprint == fp  # order, case, width, duplicates
    changed = [
        {**base, "腾讯": rule(any_=["Tencent"])},
        {**base, "腾讯": rule(any_=["Tencent", "騰訊"], none=["腾讯新闻"])},
        {**base, "腾讯": rule(title_only=["Tencent", "騰訊"])},
        {**base, "x": rule(all_=["a", "b"])},
        {**base, "y": TagRule()},
    ]
    assert len({fp, *(compile_rules(r).fingerprint for r in changed)}) == len(changed) + 1
    assert compile_rules(base, ["y"]).fingerprint == compile_rules(changed[-1]).fingerprint


# --- highlight_spans ---
@pytest.mark.parametrize(
    ("text", "keywords", "spans"),
    [
        ("ＴＥＮＣＥＮＴ與騰訊 and Tencent's", ["tencent", "腾讯"], [(0, 7), (8, 10), (15, 22)]),
        ("视频号小店", ["视频号", "号小店"], [(0, 5)]),
        ("Apple said AI", ["ai"], [(11, 13)]),
        ("WeChat\n  Channels!", ["wechat channels"], [(0, 17)]),
        ("没有关键词", ["腾讯"], []),
        ("^微信 上线", ["^微信"], [(1, 3)]),
    ],
)
def test_highlight_spans(text: str, keywords: list[str], spans: list[tuple[int, int]]) -> None:
    assert highlight_spans(text, keywords) == spans


def test_highlight_spans_of_hits() -> None:
    m = compile_rules({"腾讯": rule(any_=["Tencent", "腾讯"])})
    title = "騰訊 ＴＥＮＣＥＮＴ 財報"
    kws = [h.keyword for r in m.match(title) for h in r.hits if h.field == "title"]
    assert [title[s:e] for s, e in highlight_spans(title, kws)] == ["騰訊", "ＴＥＮＣＥＮＴ"]


# --- properties ---
ALPHABET = "ab 腾讯騰訊微信AI"
words = st.text(ALPHABET, min_size=1, max_size=4).filter(lambda w: normalise(w) != "")
rule_st = st.builds(
    lambda a, al, n, t: rule(any_=a, all_=al, none=n, title_only=t),
    st.lists(words, max_size=3),
    st.lists(words, max_size=2),
    st.lists(words, max_size=2),
    st.lists(words, max_size=2),
)
rules_st = st.dictionaries(st.sampled_from(["腾讯", "ai", "微信电商"]), rule_st, min_size=1)
text_st = st.text(ALPHABET + "，。:", max_size=20)
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _add(r: TagRule, key: str, kw: str) -> TagRule:
    data = r.model_dump(by_alias=True)
    data[key] = [*data[key], kw]
    return TagRule.model_validate(data)


@PROPS
@given(rules_st, words, text_st, text_st, st.data())
def test_adding_none_never_adds_a_match(rules, kw, title, summary, data) -> None:
    tag = data.draw(st.sampled_from(sorted(rules)))
    before = tags(rules, title, summary)
    after = tags({**rules, tag: _add(rules[tag], "none", kw)}, title, summary)
    assert after <= before


@PROPS
@given(rules_st, words, text_st, text_st, st.data())
def test_adding_any_never_removes_a_match(rules, kw, title, summary, data) -> None:
    tag = data.draw(st.sampled_from(sorted(rules)))
    before = tags(rules, title, summary)
    after = tags({**rules, tag: _add(rules[tag], "any", kw)}, title, summary)
    assert after >= before


# --- quality set with the shipped rules ---
def load_shipped_rules() -> dict[str, TagRule]:
    return load_config(ROOT / "sources.yaml").config.rules()


def test_quality_set_precision_recall(capsys: pytest.CaptureFixture[str]) -> None:
    rules = load_shipped_rules()
    assert sorted(rules) == sorted(
        [
            "微信电商",
            "视频号电商",
            "腾讯",
            "电商运营",
            "代理人战争",
            "内部整合",
            "电商困境",
            "超级应用",
        ]
    )
    m = compile_rules(rules)
    items = yaml.safe_load((ROOT / "tests" / "data" / "quality.yaml").read_text("utf-8"))["items"]
    assert len(items) >= 200
    tp = fp = fn = 0
    for it in items:
        got = {r.tag for r in m.match(it["title"], it.get("summary", ""), it.get("categories", []))}
        want = set(it["tags"])
        assert want <= set(rules), it
        tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    with capsys.disabled():  # always shown, also without -s
        print(f"\nquality set: {len(items)} items, {tp + fn} labels, tp={tp} fp={fp} fn={fn}")
        print(f"precision={precision:.3f} recall={recall:.3f}")
    assert precision >= 0.95
    assert recall >= 0.9


# --- issue 16: segments and lookalike words ---
def test_a_segment_starts_after_bars_with_spaces_semicolons_and_slashes() -> None:
    m = compile_rules({"wx": TagRule(title_only=["^微信"])})
    for title in ("36氪 | 微信上线新功能", "早报； 微信上线新功能", "苹果/微信 达成协议",
                  "微信上线新功能", "深度｜ 微信的十年"):  # fmt: skip
        assert [t.tag for t in m.match(title)] == ["wx"], title
        assert [t.tag for t in m.match_python(title)] == ["wx"], title
    for title in ("关于微信上线新功能", "苹果 微信上线新功能"):  # not the subject
        assert m.match(title) == [] and m.match_python(title) == [], title


def test_keywords_do_not_fire_inside_longer_words_that_hold_them() -> None:
    m = compile_rules({"微信电商": TagRule(any_=["微商"]), "腾讯": TagRule(any_=["微信支付"])})
    quiet = ["小微商户网络支付服务费9折优惠延期", "小微商家贷款新规", "微信支付宝互通在即"]
    for title in quiet:
        assert m.match(title) == [] and m.match_python(title) == [], title
    assert [t.tag for t in m.match("微商在小微商户中走红")] == ["微信电商"]  # the other 微商
    assert [t.tag for t in m.match("微信支付上线新功能")] == ["腾讯"]
    assert [t.tag for t in m.match_python("微信支付上线新功能")] == ["腾讯"]
