"""Near-duplicate stories (reportwatch.match.similar): exact-copy keys, the hard cases of
issue 14, the index, and the labelled set (tests/data/same_story_pairs.jsonl) through it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reportwatch.match.similar import StoryIndex, same_event, story_keys, title_key

PAIRS = Path(__file__).resolve().parent / "data" / "same_story_pairs.jsonl"
T0 = datetime(2024, 9, 10, 8, 0, tzinfo=UTC)


def key(keys: list[str], kind: str) -> str | None:
    found = [k for k in keys if k.startswith(kind + ":")]
    return found[0] if found else None


# --- exact-copy keys ---------------------------------------------------------------------------

ONE_ARTICLE = [
    "https://www.ithome.com/0/784/795.htm",
    "http://www.ithome.com/0/784/795.htm",
    "https://ithome.com/0/784/795.htm/",
    "https://WWW.ITHOME.COM/0/784/795.htm?utm_source=rss&utm_medium=feed",
    "https://www.ithome.com/0/784/795.htm?spm=a2c6h.12873639&from=timeline",
    "https://www.ithome.com/0/784/795.htm#comments",
    "https://www.ithome.com:443/0/784/795.htm?share_token=x1&ref=home&fbclid=abc",
]


@pytest.mark.parametrize("url", ONE_ARTICLE)
def test_one_article_under_several_urls_has_one_link_key(url: str) -> None:
    assert key(story_keys("标题", url, None), "l") == key(story_keys("", ONE_ARTICLE[0], None), "l")


def test_links_to_other_articles_keep_their_own_keys() -> None:
    base = key(story_keys("", "https://www.ithome.com/0/784/795.htm", None), "l")
    others = [
        "https://www.ithome.com/0/784/796.htm",  # another article
        "https://m.ithome.com/0/784/795.htm",  # another host
        "https://www.ithome.com/0/784/795.htm?id=2",  # a parameter that names content
    ]
    assert all(key(story_keys("", u, None), "l") != base for u in others)
    # the content parameter stays, the tracking one goes, in any order
    a = key(story_keys("", "https://36kr.com/p?id=2&utm_campaign=x", None), "l")
    assert (
        a
        == key(story_keys("", "https://36kr.com/p/?spm=1&id=2", None), "l")
        == "l://36kr.com/p?id=2"
    )


def test_guid_keys() -> None:
    assert key(story_keys("", None, " 36kr-2907411 "), "g") == "g:36kr-2907411"
    assert key(story_keys("x", None, "36kr-2907411"), "g") == key(
        story_keys("y", None, "36kr-2907411"), "g"
    )
    # a URL-looking guid is normalised like a link
    assert key(story_keys("", None, "http://www.36kr.com/p/2907411/?utm_source=rss"), "g") == (
        key(story_keys("", None, "https://36kr.com/p/2907411"), "g")
    )
    assert key(story_keys("", None, "   "), "g") is None
    assert key(story_keys("", None, None), "g") is None


def test_title_keys() -> None:
    a = story_keys("腾讯发布第三季度财报：营收1671亿元！", None, None)
    b = story_keys("腾讯发布第三季度财报 营收 1671 亿元", None, None)
    c = story_keys("腾讯发布第三季度财报，营收１６７１亿元。", None, None)  # full-width digits
    assert key(a, "t") == key(b, "t") == key(c, "t") == "t:腾讯发布第三季度财报营收1671亿元"
    assert title_key("  GPT-4o «mini» 发布 ") == "gpt4omini发布"
    assert title_key("★☆…") == ""


@pytest.mark.parametrize("title", ["快讯", "早报！", "8点1氪", "重磅！！", "36氪", "", "  "])
def test_short_titles_get_no_title_key(title: str) -> None:
    assert key(story_keys(title, None, None), "t") is None


def test_all_three_keys() -> None:
    keys = story_keys("微信视频号上线先用后付功能", "https://www.huxiu.com/a/1.html", "huxiu-1")
    assert [k[:2] for k in keys] == ["l:", "g:", "t:"]


# --- same event or not: the hard cases ------------------------------------------------------------

DIFFERENT = [
    # issue 14: another quarter of the same company
    (
        "腾讯发布2024年第二季度财报：营收1611亿元，同比增长8%",
        "腾讯发布2024年第三季度财报：营收1671亿元，同比增长8%",
    ),
    ("腾讯Q2营收1611亿元 同比增长8%", "腾讯Q3营收1671亿元 同比增长8%"),
    ("腾讯第二季度财报：微信及WeChat月活13.71亿", "腾讯第三季度财报：微信及WeChat月活13.82亿"),
    # issue 14: another feature of the same product
    ("视频号直播上线送礼物功能", "视频号直播上线先用后付功能"),
    (
        "微信视频号小店上线送礼物功能，用户可在直播间下单",
        "微信视频号小店上线先用后付功能，用户可在直播间下单",
    ),
    # issue 14: another charge of the same platform
    ("淘宝下调商家技术服务费", "淘宝下调商家保证金"),
    ("抖音电商调整技术服务费标准，9月起执行", "抖音电商调整保证金标准，9月起执行"),
    # other years, other numbers, other parts
    ("2023年双11成交额公布：京东再创新高", "2024年双11成交额公布：京东再创新高"),
    ("iPhone 15 国行价格公布：5999元起", "iPhone 16 国行价格公布：5999元起"),
    ("产品的力量：从理论到实践（十三）", "产品的力量：从理论到实践（十四）"),
    ("历史转折中的高考生（上）", "历史转折中的高考生（下）"),
    ("央行今日开展3000亿元逆回购操作", "央行今日开展4700亿元逆回购操作"),
    ("苹果 visionOS 1.3 开发者预览版 Beta 3 发布", "苹果 macOS 14.6 开发者预览版 Beta 3 发布"),
    # a digest and one of its stories
    (
        "8点1氪｜腾讯发布第三季度财报；小米SU7交付破10万辆；苹果推送iOS 18.1",
        "腾讯发布第三季度财报",
    ),
    ("科技昨夜今晨 0905：淘宝即将全面支持微信支付；英伟达市值蒸发", "淘宝即将全面支持微信支付"),
    ("早报 | 苹果发布新款 MacBook Pro/腾讯回应退租朗科大厦", "苹果发布新款MacBook Pro"),
    # a rumour and its confirmation; the news and a piece asking why
    ("消息称淘宝拟全面引入微信支付", "淘宝官宣全面引入微信支付"),
    ("阿里巴巴拟在香港双重主要上市，8 月 28 日生效", "为什么阿里巴巴要在香港双重主要上市？"),
    # the same template, another company
    ("松翰6月營收月增2.8%", "尼克森6月營收月增2.8%"),
]

SAME = [
    (
        "马斯克：特斯拉皮卡 Cybertruck 2024 年量产，晚于此前预期",
        "马斯克预计特斯拉皮卡Cybertruck 2024年量产 晚于此前预期",
    ),
    (
        "36氪独家｜罗永浩入局Tik Tok，交个朋友将开启海外电商培训",
        "罗永浩入局Tik Tok，交个朋友将开启海外电商培训",
    ),
    ("告別航空傳奇波音 747，「空中女王」正式謝幕", "告别航空传奇波音 747，「空中女王」正式谢幕"),
    ("1.5 元只能骑 10 分钟，多地共享单车上调起步价", "多地共享单车上调起步价 1.5元只能骑10分钟"),
    (
        "Google宣布调整Chrome漏洞安全奖励计划 单个漏洞现在最高奖励25万美元",
        "谷歌宣布调整Chrome漏洞安全奖励计划 单个漏洞现在最高奖励25万美元",
    ),
    ("腾讯第三季度营收1671亿元，同比增长8%", "腾讯Q3营收1671亿元 同比增长8%"),
    (
        "理想汽车2024年5月交付35,020辆",
        "理想汽车 2024 年 5 月交付 35020 辆，理想 L6 累计交付突破 1.5 万辆",
    ),
    ("柔宇科技破产清算案获受理", "昔日独角兽、折叠屏手机鼻祖，柔宇科技破产清算案获受理"),
    ("618的穷途：电商已不知为何而战", "6·18 的穷途：吸血、乏力、索然，电商已不知为何而战"),
    ("微软修复89个安全漏洞", "[下载] 微软修复89个安全漏洞"),
    ("淘天集团弱化绝对低价战略", "消息称淘天集团弱化绝对低价战略"),
    ("视频号直播上线先用后付功能", "视频号直播上线先用后付功能"),
]


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_look_alike_different_events_stay_apart(a: str, b: str) -> None:
    assert not same_event(a, "", b, "")
    assert not same_event(b, "", a, "")


@pytest.mark.parametrize(("a", "b"), SAME)
def test_rewrites_of_one_event_merge(a: str, b: str) -> None:
    assert same_event(a, "", b, "")
    assert same_event(b, "", a, "")


def test_summaries_can_show_what_the_titles_do_not() -> None:
    lead = (
        "蔚来今日宣布，将在全国范围内调整换电站收费模式，按实际换电电量计费，9月5日举行用户沟通会。"
    )
    a, b = "蔚来要改换电收费了", "换电按度收费，蔚来用户有话说"
    assert not same_event(a, "", b, "")
    assert same_event(a, lead, b, lead)
    # but a summary never makes a digest one of its stories
    assert not same_event("早报｜蔚来调整换电收费；小米汽车交付", lead, a, lead)


def test_nothing_to_compare() -> None:
    assert not same_event("", "", "", "")
    assert not same_event("？？？", "", "！！！", "")


# --- the index ---------------------------------------------------------------------------------


def test_find_the_earlier_report_within_the_window() -> None:
    index = StoryIndex(window=timedelta(hours=72))
    index.add(1, "微信视频号上线先用后付功能", "", T0)
    index.add(2, "腾讯发布第三季度财报：营收1671亿元", "", T0)
    rewrite = "视频号上线“先用后付”功能"
    assert index.find(rewrite, "", T0 + timedelta(hours=71)) == 1
    assert index.find(rewrite, "", T0 - timedelta(hours=71)) == 1  # |when - story.when|
    assert index.find(rewrite, "", T0 + timedelta(hours=73)) is None
    assert index.find("视频号上线送礼物功能", "", T0) is None
    assert index.find("腾讯第三季度营收1671亿元", "", T0) == 2
    assert index.find("腾讯第二季度营收1611亿元", "", T0) is None
    assert len(index) == 2


def test_best_match_wins() -> None:
    index = StoryIndex()
    index.add(1, "华为Mate XT三折叠手机发布", "", T0)
    index.add(2, "华为 Mate XT 非凡大师三折叠手机发布：19999元起", "", T0)
    index.add(3, "华为 Mate XT 非凡大师三折叠手机发布：19999元起", "", T0 - timedelta(hours=40))
    # the closest text first, then the closest time
    assert index.find("华为Mate XT非凡大师三折叠手机发布，19999元起", "", T0) == 2


def test_naive_times_count_as_utc() -> None:
    index = StoryIndex()
    index.add(1, "阿里云宣布史上最大力度降价", "", datetime(2024, 2, 29, 8, 0))
    assert (
        index.find("阿里云宣布史上最大力度降价！", "", T0.replace(year=2024, month=2, day=29)) == 1
    )


def test_add_again_replaces_and_discard_forgets() -> None:
    index = StoryIndex()
    index.add(1, "微信视频号上线先用后付功能", "", T0)
    index.add(1, "淘宝下调商家保证金", "", T0)  # the same story, edited
    assert len(index) == 1
    assert index.find("视频号上线先用后付功能", "", T0) is None
    assert index.find("淘宝下调商家的保证金", "", T0) == 1
    index.discard(1)
    index.discard(99)
    assert len(index) == 0
    assert index.find("淘宝下调商家的保证金", "", T0) is None


def test_prune_forgets_old_stories() -> None:
    index = StoryIndex()
    items = [
        (k, f"第{k}届中国国际进口博览会开幕，{k}个国家参展", "", T0 + timedelta(days=k))
        for k in range(10)
    ]
    index.add_many(items)
    assert len(index) == 10
    index.prune(T0 + timedelta(days=5))
    assert len(index) == 5
    assert (
        index.find("第3届中国国际进口博览会开幕，3个国家参展", "", T0 + timedelta(days=3)) is None
    )
    assert index.find("第7届中国国际进口博览会开幕，7个国家参展！", "", T0 + timedelta(days=7)) == 7
    index.prune(T0 + timedelta(days=30))
    assert len(index) == 0


def test_add_many_finds_what_add_finds() -> None:
    pairs = labelled_pairs()[:200]
    items = [
        (k, p["a"]["title"], p["a"]["summary"], day(p["a"]["date"])) for k, p in enumerate(pairs)
    ]
    one_by_one, bulk = StoryIndex(), StoryIndex()
    for item in items:
        one_by_one.add(*item)
    bulk.add_many(items)
    assert len(one_by_one) == len(bulk)
    for p in pairs:
        b = p["b"]
        assert one_by_one.find(b["title"], b["summary"], day(b["date"])) == bulk.find(
            b["title"], b["summary"], day(b["date"])
        )


# --- the labelled set --------------------------------------------------------------------------

PRECISION, RECALL = 0.95, 0.85  # issue 14's targets


def labelled_pairs() -> list[dict]:
    with open(PAIRS, encoding="utf-8") as f:
        return [p for line in f if not (p := json.loads(line))["unsure"]]


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def precision_recall(predicted: list[bool], labels: list[bool]) -> tuple[float, float]:
    tp = sum(p and y for p, y in zip(predicted, labels, strict=True))
    return tp / max(sum(predicted), 1), tp / sum(labels)


def test_labelled_pairs_through_the_index() -> None:
    """Add a at its date, find b at its date: the window, the candidate step and the
    verification all count. (benchmarks/stories.py also prints the cross-validated figures and
    the pairs placed among 100k real stories.)"""
    pairs = labelled_pairs()
    labels = [bool(p["same"]) for p in pairs]
    assert len(pairs) == 737 and sum(labels) == 470  # the file as labelled; unsure ones left out
    found = []
    for p in pairs:
        index = StoryIndex()
        index.add(1, p["a"]["title"], p["a"]["summary"], day(p["a"]["date"]))
        found.append(index.find(p["b"]["title"], p["b"]["summary"], day(p["b"]["date"])) == 1)
    precision, recall = precision_recall(found, labels)
    assert precision >= PRECISION, (precision, recall)
    assert recall >= RECALL, (precision, recall)
    alone = [
        same_event(p["a"]["title"], p["a"]["summary"], p["b"]["title"], p["b"]["summary"])
        for p in pairs
    ]
    precision, recall = precision_recall(alone, labels)
    assert precision >= PRECISION and recall >= RECALL, (precision, recall)
    # The 59 hand-picked look-alikes labelled different: 6 still merge, each a different act in
    # nearly the same words (test cable vs sale, 小米's statement vs the police report, a
    # rumoured vs an announced launch date, 或将卸任 vs 卸任, iOS vs 安卓 build, two sale
    # rounds). The one labelled same (two figures of one results release) does not.
    hard = [f for p, f in zip(pairs, found, strict=True) if p["kind"] == "hard_negative"]
    assert sum(hard) <= 6


def test_no_database_ui_or_network_libraries() -> None:
    code = (
        "import sys, reportwatch.match.similar; "
        "print([m for m in ('sqlalchemy', 'streamlit', 'pandas', 'aiohttp') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_one_boilerplate_summary_does_not_make_different_headlines_one_event() -> None:
    boilerplate = "点击阅读全文。本文来自微信公众号，转载请联系作者。"
    assert not same_event("苹果发布新款iPhone", boilerplate, "腾讯会议推出新功能", boilerplate)
