"""Boilerplate in real Chinese feed summaries: not news about WeChat or Tencent."""

from __future__ import annotations

import re
from functools import cache

from reportwatch.match.hanzi import converters
from reportwatch.match.scanner import match_prefixes

# Boilerplate seen in real Chinese feeds (36氪, 爱范儿, Mac玩儿法, CoolShell, 阮一峰, ifanr ...):
# follow-us lines, author contact IDs, share widgets, source credits. They mention 微信 or
# 腾讯 without being news about them. Written for simplified text; traditional forms are
# added by conversion. Applied to summaries only (headlines do not carry it). Each pattern
# starts with a literal character, so the regex engine skips ahead with a first-character
# set instead of trying every pattern at every position (~20x faster).
BOILERPLATE_PATTERNS: tuple[str, ...] = (
    r"本文(?:来自|来源于|首发于|转载自|转自|由|经)[^。!！\n]{0,80}",  # 本文来自微信公众号“X”(ID:..)
    r"关注[^。!！\n]{0,30}?公众(?:号|账号|帐号)[^。!！\n]{0,40}",  # 欢迎关注我们的微信公众号…
    r"订阅[^。!！\n]{0,30}?公众(?:号|账号|帐号)[^。!！\n]{0,40}",
    r"更多[^。!！\n]{0,10}公众(?:号|账号)[^。!！\n]{0,30}",
    r"微信公众(?:号|账号|帐号|平台)?\s*[:：]\s*[@＠]?[^\s,，。;；]{1,30}",  # 微信公众号: @X
    r"微信号?\s*(?:是\s*)?[:：]\s*[\w-]+",  # (微信号: ifanr) 我的微信是: 123
    r"讨论[。，,\s]*微信\s*[:：]?\s*[\w-]+",  # 欢迎与我切磋讨论。微信 KWong
    r"分享到\s*[:：]?\s*(?:(?:微信|朋友圈|qq空间|qq|微博|豆瓣|twitter|facebook)[\s/／、,，|]*)+",
    r"微信扫一扫[^。\n]{0,20}",
    r"扫码(?:加|添加|关注)?微信[^。\n]{0,20}",
    r"扫描二维码[^。\n]{0,30}",
    r"识别二维码[^。\n]{0,30}",
    r"微信搜索[^。\n]{0,40}",
    r"原文链接\s*[:：]?\s*\S*",
    r"点击阅读原文[^。\n]{0,20}",
    r"来源\s*[:：]\s*[^\s,，。;；)）]{1,20}",  # (来源: 腾讯新闻) 图片来源: …
    r"腾讯(?:新闻|科技|网)\s*[)）]",  # (腾讯新闻)
    r"腾讯(?:科技|新闻|网|财经|汽车|娱乐|体育)讯",  # dateline of Tencent's news outlets
)


@cache
def patterns() -> tuple[str, ...]:
    """BOILERPLATE_PATTERNS and their traditional forms."""
    s2t = converters()[1]
    return tuple(dict.fromkeys(p2 for p in BOILERPLATE_PATTERNS for p2 in (p, s2t(p))))


@cache
def markers() -> frozenset[str] | None:
    """Every boilerplate phrase starts with one of these (None: not known for certain)."""
    prefixes = [match_prefixes(p) for p in patterns()]
    return None if None in prefixes else frozenset(x for p in prefixes for x in p or ())


@cache
def regex() -> re.Pattern[str]:
    """All patterns in one expression (case-insensitive), for normalised or raw text."""
    return re.compile("|".join(patterns()), re.IGNORECASE)


def strip_boilerplate(text: str) -> str:
    """Remove the known boilerplate phrases (BOILERPLATE_PATTERNS) from raw or normalised text."""
    return " ".join(regex().sub(" ", text).split())
