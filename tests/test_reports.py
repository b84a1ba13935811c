"""Report loading: the shipped report, and plain-language errors for broken ones."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from reportwatch.config.reports import (
    ReportError,
    ReportLoadError,
    Section,
    load_report,
    load_reports,
    split_sections,
)

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "reports" / "wechat-ecommerce.md"

GOOD = """\
---
title: 视频号直播带货观察
kind: 深度调查
author: 王芳
tags: ["#视频号电商", 腾讯]
summary: 视频号直播带货的现状与挑战。
verified: 2025-07-30
---

导语。

## 第一部分

内容。
"""


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def errors_of(path: Path) -> list[ReportError]:
    with pytest.raises(ReportLoadError) as info:
        load_report(path)
    return info.value.errors


# --- the shipped report -------------------------------------------------------------


def test_shipped_report_front_matter() -> None:
    report = load_report(SHIPPED)
    assert report.slug == "wechat-ecommerce"
    assert report.title == "微信电商突围:超级应用能否打破电商困局?"
    assert report.kind == "深度调查"
    assert report.author == "李明"
    assert report.tags == [
        "微信电商",
        "视频号电商",
        "腾讯",
        "电商运营",
        "代理人战争",
        "内部整合",
        "电商困境",
        "超级应用",
    ]
    assert report.summary.startswith("作为国民级应用,微信一直怀揣着电商梦想")
    assert "代理人战争" in report.tldr
    assert report.verified == dt.date(2025, 7, 30)
    assert [f.q for f in report.faq] == [
        "微信电商未来的发展方向是什么?",
        "视频号电商在微信电商中扮演什么角色?",
    ]
    assert report.faq[1].a.startswith("视频号电商是微信电商生态的重要组成部分")
    assert report.method.startswith("本调查采用多重来源验证")
    assert report.updates.startswith("我们会持续跟踪相关进展")


def test_shipped_report_sections() -> None:
    report = load_report(SHIPPED)
    top = [s.heading for s in report.sections if s.level == 2]
    assert top == ["微信电商的优势分析", "微信电商的劣势分析", "微信电商的突围之路", "未来展望"]
    subs = [s.heading for s in report.sections if s.level == 3]
    assert "视频号电商的崛起" in subs
    assert report.sections[0].heading == ""  # the intro paragraph
    assert "作为国民级应用" in report.sections[0].markdown
    advantages = next(s for s in report.sections if s.heading == "微信电商的优势分析")
    assert "- **庞大的用户基础和流量优势**:" in advantages.markdown
    assert "Get笔记" in report.sections[-1].markdown
    # FAQ, method and updates live in the front matter only.
    assert "常见问题解答" not in report.body
    assert "调查方法" not in report.body


def test_shipped_directory_loads_cleanly() -> None:
    result = load_reports(ROOT / "reports")
    assert result.errors == []
    assert "wechat-ecommerce" in [r.slug for r in result.reports]


# --- good files ------------------------------------------------------------------------


def test_slug_defaults_to_stem_and_hash_is_stripped(tmp_path: Path) -> None:
    report = load_report(write(tmp_path, "live-video.md", GOOD))
    assert report.slug == "live-video"
    assert report.tags == ["视频号电商", "腾讯"]
    assert report.body.startswith("导语。")
    assert report.path == str(tmp_path / "live-video.md")


def test_bom_is_tolerated(tmp_path: Path) -> None:
    report = load_report(write(tmp_path, "bom.md", "\ufeff" + GOOD))
    assert report.title == "视频号直播带货观察"


def test_split_sections_ignores_hashes_in_code() -> None:
    body = "前言\n\n## 一\n\n```\n# 不是标题\n```\n\n### 二 ###\n内容"
    assert split_sections(body) == [
        Section(0, "", "前言"),
        Section(2, "一", "```\n# 不是标题\n```"),
        Section(3, "二", "内容"),
    ]


# --- bad files -------------------------------------------------------------------------


def test_missing_title(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.md", GOOD.replace("title: 视频号直播带货观察\n", ""))
    [err] = errors_of(path)
    assert err.field == "title"
    assert str(err) == f"{path}: field 'title': required but missing"


def test_bad_date(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.md", GOOD.replace("2025-07-30", "yesterday"))
    [err] = errors_of(path)
    assert str(err) == (
        f"{path}: field 'verified': expected a date like 2025-07-30, got 'yesterday'"
    )


def test_impossible_date(tmp_path: Path) -> None:
    [err] = errors_of(write(tmp_path, "bad.md", GOOD.replace("2025-07-30", "2025-02-30")))
    assert err.field == "verified"
    assert "not a real calendar date" in err.message


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    [err] = errors_of(write(tmp_path, "bad.md", GOOD.replace("kind:", "autor: 张三\nkind:")))
    assert err.field == "autor"
    assert "unknown key" in err.message and "did you mean 'author'?" in err.message


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("title: 视频号直播带货观察\n", "来源: 虎嗅网\n").replace(
        "2025-07-30", "2025年7月30日"
    )
    errs = errors_of(write(tmp_path, "bad.md", text))
    assert {e.field for e in errs} == {"来源", "title", "verified"}


def test_yaml_syntax_error_gives_line(tmp_path: Path) -> None:
    text = GOOD.replace("kind: 深度调查", "kind: [深度调查")
    [err] = errors_of(write(tmp_path, "bad.md", text))
    assert err.field is None
    assert "not valid YAML at line 4, column 7" in err.message
    assert "started on line 3" in err.message  # where the unclosed '[' is


def test_yaml_error_line_is_the_file_line(tmp_path: Path) -> None:
    text = GOOD.replace("author: 王芳", "author: 王芳\n\tindent: 坏")
    [err] = errors_of(write(tmp_path, "bad.md", text))
    assert "line 5," in err.message  # line 1 is the opening '---'
    assert "tabs" in err.message


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    [err] = errors_of(write(tmp_path, "bad.md", GOOD.replace("kind:", "title: 重复\nkind:")))
    assert "'title' appears twice" in err.message and "line 3" in err.message


def test_no_front_matter(tmp_path: Path) -> None:
    [err] = errors_of(write(tmp_path, "bad.md", "# 微信电商\n\n没有前置元数据。\n"))
    assert "front matter" in err.message and "'---'" in err.message


def test_unclosed_front_matter(tmp_path: Path) -> None:
    [err] = errors_of(write(tmp_path, "bad.md", GOOD.replace("---\n\n导语", "\n导语")))
    assert "closing '---'" in err.message


def test_front_matter_not_a_mapping(tmp_path: Path) -> None:
    [err] = errors_of(write(tmp_path, "bad.md", "---\n- 微信电商\n- 腾讯\n---\n正文\n"))
    assert "key: value" in err.message and "a list" in err.message


def test_non_utf8_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, "gbk.md", GOOD.encode("gbk"))
    [err] = errors_of(path)
    assert err.field is None
    assert "not valid UTF-8" in err.message and "line 2" in err.message


def test_wrong_types(tmp_path: Path) -> None:
    text = GOOD.replace('tags: ["#视频号电商", 腾讯]', "tags: 视频号电商").replace(
        "author: 王芳", "author: 2025"
    )
    errs = {e.field: e.message for e in errors_of(write(tmp_path, "bad.md", text))}
    assert errs["tags"].startswith("expected a list like")
    assert errs["author"] == "expected text, got the number 2025; put it in quotes"


def test_unquoted_hash_tags_are_explained(tmp_path: Path) -> None:
    # An unquoted "#..." is a YAML comment, so the tags come out empty.
    text = GOOD.replace('tags: ["#视频号电商", 腾讯]', "tags: #视频号电商#腾讯")
    [err] = errors_of(write(tmp_path, "bad.md", text))
    assert err.field == "tags" and "YAML comment" in err.message


def test_each_bad_tag_is_named(tmp_path: Path) -> None:
    text = GOOD.replace('tags: ["#视频号电商", 腾讯]', 'tags: ["#视频号电商#腾讯", " "]')
    [err] = errors_of(write(tmp_path, "bad.md", text))
    assert "item 2: tag is empty" in err.message
    assert "item 1: '视频号电商#腾讯' looks like several tags" in err.message


def test_a_tag_the_store_cannot_hold_is_named(tmp_path: Path) -> None:
    text = GOOD.replace('tags: ["#视频号电商", 腾讯]', f'tags: [腾讯, "{"长" * 201}"]')
    [err] = errors_of(write(tmp_path, "bad.md", text))
    assert err.field == "tags" and "item 2: the tag is longer than 200 characters" in err.message


def test_faq_item_problems(tmp_path: Path) -> None:
    text = GOOD.replace("verified:", "faq:\n  - q: 问题?\n  - 只有文字\nverified:")
    errs = [str(e) for e in errors_of(write(tmp_path, "bad.md", text))]
    assert any("item 1, 'a': required but missing" in e for e in errs)
    assert any("item 2: expected an entry with q: and a:" in e for e in errs)


def test_invalid_slug_from_file_name(tmp_path: Path) -> None:
    [err] = errors_of(write(tmp_path, "微信.md", GOOD))
    assert err.field == "slug" and "file name" in err.message


def test_duplicate_slug(tmp_path: Path) -> None:
    write(tmp_path, "a.md", GOOD.replace("kind:", "slug: same\nkind:"))
    write(tmp_path, "b.md", GOOD.replace("kind:", "slug: same\nkind:"))
    result = load_reports(tmp_path)
    assert [r.path for r in result.reports] == [str(tmp_path / "a.md")]
    [err] = result.errors
    assert err.path == str(tmp_path / "b.md") and err.field == "slug"
    assert "already used by" in err.message and "a.md" in err.message


def test_bad_file_does_not_stop_good_ones(tmp_path: Path) -> None:
    write(tmp_path, "a-bad.md", GOOD.replace("2025-07-30", "昨天"))
    write(tmp_path, "b-good.md", GOOD)
    write(tmp_path, "c-bad.md", b"\xff\xfe")
    write(tmp_path, "notes.txt", "不是报告")
    result = load_reports(tmp_path)
    assert [r.slug for r in result.reports] == ["b-good"]
    assert [Path(e.path).name for e in result.errors] == ["a-bad.md", "c-bad.md"]


def test_missing_directory_is_an_error_not_an_exception(tmp_path: Path) -> None:
    result = load_reports(tmp_path / "nope")
    assert result.reports == []
    [err] = result.errors
    assert err.field is None and "not found" in err.message
