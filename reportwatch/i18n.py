"""Every UI string, in Chinese (the report's language, default) and English."""

from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    "app_title": {"zh": "reportwatch 实时调查", "en": "reportwatch live report"},
    "page_report": {"zh": "报告", "en": "Report"},
    "page_explorer": {"zh": "条目浏览", "en": "Explorer"},
    "page_trends": {"zh": "趋势", "en": "Trends"},
    "page_sources": {"zh": "来源", "en": "Sources"},
    "language": {"zh": "界面语言", "en": "Language"},
    "report_picker": {"zh": "选择报告", "en": "Report"},
    "no_reports": {"zh": "没有可显示的报告。", "en": "There is no report to show."},
    "report_errors": {"zh": "有报告无法载入:", "en": "Some reports could not be loaded:"},
    "config_error": {
        "zh": "配置文件有错误,以下内容未生效:",
        "en": "The configuration has errors and was not applied:",
    },
    "config_stale": {
        "zh": "配置文件刚被改坏,仍在使用上一次有效的配置。",
        "en": "The configuration file became invalid; the last good configuration is still in use.",
    },
    "panel_error": {
        "zh": "监测面板暂时无法显示(已记录到服务器日志),下次刷新会重试。",
        "en": "The monitoring panel cannot be shown right now (logged on the server); "
        "it retries at the next refresh.",
    },
    "store_error": {"zh": "数据库不可用:", "en": "The database is unavailable:"},
    "demo": {
        "zh": "演示数据:本页的动态来自随项目附带的示例订阅源,并非真实新闻。",
        "en": "Demo data: the updates on this page come from bundled sample feeds, not real news.",
    },
    "verified": {"zh": "已验证调查", "en": "Verified investigation"},
    "verified_on": {"zh": "最后验证: {date}", "en": "Last verified: {date}"},
    "author": {"zh": "作者: {author}", "en": "By {author}"},
    "summary": {"zh": "调查摘要", "en": "Summary"},
    "tldr": {"zh": "TL;DR (太长不看)", "en": "TL;DR"},
    "faq": {"zh": "常见问题解答", "en": "FAQ"},
    "about": {"zh": "关于这项调查", "en": "About this investigation"},
    "method": {"zh": "调查方法", "en": "Method"},
    "updates": {"zh": "更新说明", "en": "Updates"},
    "verified_process": {
        "zh": "此调查已通过我们的验证流程",
        "en": "This investigation passed our verification process",
    },
    "monitoring": {"zh": "实时监测中", "en": "Live monitoring"},
    "last_update": {"zh": "最后更新", "en": "Last updated"},
    "never_polled": {
        "zh": "尚未轮询:还没有任何来源被成功获取过。",
        "en": "Not polled yet: no source has been fetched successfully.",
    },
    "state_live": {"zh": "运行中", "en": "live"},
    "state_delayed": {"zh": "延迟", "en": "delayed"},
    "state_stopped": {"zh": "已停止", "en": "stopped"},
    "state_never": {"zh": "未开始", "en": "not started"},
    "reason_no_poller": {"zh": "没有在运行的轮询进程", "en": "nothing is polling"},
    "reason_all_failing": {"zh": "所有来源都获取失败", "en": "every source is failing"},
    "reason_no_sources": {"zh": "配置中没有启用的来源", "en": "no source is enabled"},
    "next_cycle": {"zh": "下次检查 {when}", "en": "next check {when}"},
    "just_now": {"zh": "刚刚", "en": "just now"},
    "seconds_ago": {"zh": "{n} 秒前", "en": "{n} s ago"},
    "minutes_ago": {"zh": "{n} 分钟前", "en": "{n} min ago"},
    "hours_ago": {"zh": "{n} 小时前", "en": "{n} h ago"},
    "days_ago": {"zh": "{n} 天前", "en": "{n} days ago"},
    "in_seconds": {"zh": "{n} 秒后", "en": "in {n} s"},
    "in_minutes": {"zh": "{n} 分钟后", "en": "in {n} min"},
    "overdue": {"zh": "已到期", "en": "due now"},
    "sources_status": {"zh": "来源状态", "en": "Source status"},
    "status_ok": {"zh": "正常", "en": "ok"},
    "status_not_modified": {"zh": "无变化", "en": "not modified"},
    "status_error": {"zh": "失败", "en": "error"},
    "status_never_checked": {"zh": "未检查", "en": "not checked"},
    "empty_no_match": {
        "zh": "已轮询,但还没有与报告标签相关的条目。",
        "en": "Polled, but no entry matches the report's tags yet.",
    },
    "empty_filtered": {
        "zh": "当前标签筛选下没有条目。",
        "en": "No entry matches the current tag filter.",
    },
    "empty_failing": {
        "zh": "所有来源都获取失败,暂无条目。",
        "en": "Every source is failing; there are no entries.",
    },
    "tag_filter": {"zh": "按标签筛选", "en": "Filter by tag"},
    "new": {"zh": "新", "en": "NEW"},
    "new_count": {"zh": "{n} 条新动态", "en": "{n} new"},
    "mark_read": {"zh": "全部标为已读", "en": "Mark all as read"},
    "refresh_now": {"zh": "立即刷新", "en": "Refresh now"},
    "refreshing": {"zh": "正在获取订阅源…", "en": "Fetching feeds…"},
    "refresh_done": {
        "zh": "完成:{n} 个来源,{new} 条新条目,{errors} 个错误",
        "en": "Done: {n} sources, {new} new entries, {errors} errors",
    },
    "refresh_limited": {
        "zh": "刚刚刷新过,请 {n} 秒后再试。",
        "en": "Refreshed a moment ago; try again in {n} s.",
    },
    "more": {"zh": "更多", "en": "More"},
    "toast_new": {"zh": "{n} 条新动态", "en": "{n} new updates"},
    "since_verified": {
        "zh": "自 {date} 验证以来 {n} 条相关新动态",
        "en": "{n} related updates since verification on {date}",
    },
    "needs_revision": {
        "zh": "验证后出现 {n} 条相关新动态,报告可能需要修订",
        "en": "{n} related updates since verification: the report may need revision",
    },
    "first_seen_flag": {"zh": "(发现时间)", "en": "(first seen)"},
}


def t(key: str, lang: str = "zh", **values: object) -> str:
    """The string for `key` in `lang` (falls back to Chinese), formatted with `values`."""
    table = STRINGS[key]
    text = table.get(lang) or table["zh"]
    return text.format(**values) if values else text
