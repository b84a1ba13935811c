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
    "poller_failed": {
        "zh": "后台轮询失败,新条目暂时无法写入:",
        "en": "Background polling failed; new entries cannot be stored:",
    },
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
    "also": {"zh": "另见：", "en": "Also in:"},
    "col_also": {"zh": "另见", "en": "Also in"},
    "copies_toggle": {"zh": "每个来源分开列出", "en": "Every copy"},
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
    # -- analysis pages: explorer, trends, sources --
    "disabled": {"zh": "已停用", "en": "disabled"},
    "all_tags": {"zh": "全部标签", "en": "All tags"},
    "search": {"zh": "搜索标题和摘要", "en": "Search titles and summaries"},
    "search_hint": {
        "zh": "例如 视频号;多个词用空格分开",
        "en": "e.g. 视频号; separate words with spaces",
    },
    "all_entries": {"zh": "包括未匹配", "en": "Include unmatched"},
    "new_only": {"zh": "只看新动态", "en": "New only"},
    "source_filter": {"zh": "来源", "en": "Sources"},
    "all_sources": {"zh": "全部来源", "en": "All sources"},
    "date_from": {"zh": "起始日期", "en": "From"},
    "date_to": {"zh": "截止日期", "en": "To"},
    "sort": {"zh": "排序", "en": "Sort"},
    "sort_newest": {"zh": "最新发布", "en": "Newest"},
    "sort_oldest": {"zh": "最早发布", "en": "Oldest"},
    "sort_first_seen": {"zh": "最近发现", "en": "Recently found"},
    "sort_title": {"zh": "标题", "en": "Title"},
    "sort_source": {"zh": "来源", "en": "Source"},
    "results": {
        "zh": "共 {n} 条 · 第 {page}/{pages} 页",
        "en": "{n} entries · page {page} of {pages}",
    },
    "explorer_empty": {
        "zh": "没有符合当前筛选的条目。",
        "en": "No entry matches the current filters.",
    },
    "explorer_empty_store": {
        "zh": "数据库里还没有条目:尚未轮询,或所有来源都获取失败。",
        "en": "No entries are stored yet: nothing was polled, or every source failed.",
    },
    "col_title": {"zh": "标题", "en": "Title"},
    "col_link": {"zh": "链接", "en": "Link"},
    "col_source": {"zh": "来源", "en": "Source"},
    "col_tags": {"zh": "标签", "en": "Tags"},
    "col_published": {"zh": "发布时间", "en": "Published"},
    "col_first_seen": {"zh": "发现时间", "en": "First seen"},
    "col_new": {"zh": "新", "en": "New"},
    "col_matched": {"zh": "已匹配", "en": "Matched"},
    "col_summary": {"zh": "摘要", "en": "Summary"},
    "export_csv": {"zh": "导出 CSV", "en": "Export CSV"},
    "export_json": {"zh": "导出 JSON", "en": "Export JSON"},
    "export_note": {
        "zh": "导出当前筛选的结果:{n} 条(每次最多 {limit} 条)",
        "en": "Exports the current view: {n} entries (at most {limit} at a time)",
    },
    "time_range": {"zh": "时间范围", "en": "Time range"},
    "range_1d": {"zh": "24 小时", "en": "24 hours"},
    "range_7d": {"zh": "7 天", "en": "7 days"},
    "range_30d": {"zh": "30 天", "en": "30 days"},
    "range_90d": {"zh": "90 天", "en": "90 days"},
    "range_365d": {"zh": "一年", "en": "1 year"},
    "bucket": {"zh": "粒度", "en": "Per"},
    "bucket_day": {"zh": "按天", "en": "day"},
    "bucket_hour": {"zh": "按小时", "en": "hour"},
    "chart_mode": {"zh": "图表", "en": "Chart"},
    "mode_lines": {"zh": "折线", "en": "lines"},
    "mode_stacked": {"zh": "堆叠", "en": "stacked"},
    "fig_tags": {"zh": "各标签的匹配数", "en": "Matches per tag"},
    "fig_sources": {"zh": "各来源的相关条目", "en": "Matched entries per source"},
    "fig_heatmap": {"zh": "标签 × 日期", "en": "Tag × day"},
    "matches": {"zh": "匹配数", "en": "matches"},
    "entries_count": {"zh": "条目数", "en": "entries"},
    "trends_empty": {
        "zh": "所选时间范围内没有匹配的条目。",
        "en": "No matched entries in the chosen time range.",
    },
    "trends_older": {
        "zh": "所选范围({range})内没有匹配的条目;最新一条匹配在 {date}。",
        "en": "No matched entries in the chosen range ({range}); the newest match is from {date}.",
    },
    "trends_show_range": {"zh": "查看 {range}", "en": "Show {range}"},
    "trends_too_old": {
        "zh": "所选范围({range})内没有匹配的条目;最新一条匹配在 {date},早于所有可选范围,"
        "可在条目浏览中查看。",
        "en": "No matched entries in the chosen range ({range}); the newest match, from {date}, "
        "is older than every range: the explorer lists it.",
    },
    "open_in_explorer": {"zh": "在条目浏览中查看:", "en": "Open in the explorer:"},
    "sources_failing": {"zh": "{n} 个来源获取失败:", "en": "{n} source(s) failing:"},
    "sources_none": {
        "zh": "还没有来源记录,第一次轮询后出现。",
        "en": "No sources recorded yet; they appear after the first poll.",
    },
    "col_name": {"zh": "名称", "en": "Name"},
    "col_status": {"zh": "状态", "en": "Status"},
    "col_last_checked": {"zh": "最后检查", "en": "Last checked"},
    "col_last_ok": {"zh": "最后成功", "en": "Last ok"},
    "col_latency": {"zh": "耗时", "en": "Latency"},
    "col_bytes": {"zh": "字节", "en": "Bytes"},
    "col_entries": {"zh": "条目", "en": "Entries"},
    "col_error": {"zh": "错误", "en": "Error"},
    "col_next_due": {"zh": "下次检查", "en": "Next due"},
    "col_failures": {"zh": "连续失败", "en": "Failures in a row"},
    "col_url": {"zh": "地址", "en": "URL"},
    "history": {"zh": "轮询历史", "en": "Poll history"},
    "history_empty": {
        "zh": "这段时间没有完成的轮询。",
        "en": "No finished poll cycle in this range.",
    },
    "fig_duration": {"zh": "耗时 (秒)", "en": "Duration (s)"},
    "fig_new": {"zh": "新条目", "en": "New entries"},
    "fig_errors": {"zh": "错误", "en": "Errors"},
    "opml": {"zh": "OPML 导入 / 导出与新增来源", "en": "OPML import / export, new sources"},
    "opml_export": {"zh": "导出 OPML", "en": "Export OPML"},
    "opml_import": {"zh": "导入 OPML 文件", "en": "Import an OPML file"},
    "opml_bad": {"zh": "无法读取这个 OPML 文件:", "en": "This OPML file cannot be read:"},
    "opml_preview": {
        "zh": "文件中有 {n} 个订阅源,其中 {new} 个可以加入:",
        "en": "{n} feeds in the file, {new} of them can be added:",
    },
    "opml_merge": {
        "zh": "把 {n} 个新来源写入配置文件",
        "en": "Add {n} new sources to the configuration",
    },
    "opml_merged": {
        "zh": "已把 {n} 个来源加入 {path},下一轮轮询生效。",
        "en": "Added {n} sources to {path}; they are polled from the next cycle.",
    },
    "merge_failed": {"zh": "配置文件没有修改:", "en": "The configuration was not changed:"},
    "verdict_new": {"zh": "新增", "en": "new"},
    "verdict_duplicate": {"zh": "已存在", "en": "already there"},
    "verdict_refused": {"zh": "拒绝", "en": "refused"},
    "source_exists": {"zh": "这个地址已在配置中。", "en": "This URL is already configured."},
    "refuse_scheme": {
        "zh": "只接受 http:// 或 https:// 地址(收到 {detail})",
        "en": "only http:// or https:// URLs are accepted (got {detail})",
    },
    "refuse_bad_url": {"zh": "地址无效:{detail}", "en": "not a valid URL: {detail}"},
    "refuse_unresolved": {
        "zh": "无法解析主机 {detail},不能确认它是公网地址",
        "en": "cannot resolve {detail}, so it cannot be checked to be public",
    },
    "refuse_private": {
        "zh": "指向内网或本机地址({detail});如需允许,请在配置中设置 allow_private_sources: true",
        "en": "points at a private or local address ({detail}); "
        "set allow_private_sources: true in the configuration to allow it",
    },
    "add_source": {"zh": "添加来源", "en": "Add a source"},
    "source_name": {"zh": "名称(可留空)", "en": "Name (optional)"},
    "source_url": {"zh": "订阅源地址(http/https)", "en": "Feed URL (http/https)"},
    "source_added": {
        "zh": "已加入 {name},下一轮轮询生效。",
        "en": "Added {name}; it is polled from the next cycle.",
    },
    # -- editors (reportwatch/ui/auth.py) --
    "edit_disabled": {
        "zh": "编辑需要登录:在 sources.yaml 中配置 editors(用 `reportwatch editor add 名字` "
        "添加编辑账号),再从侧边栏登录。没有配置时,来源和刷新只能由运维在命令行和配置文件中修改。",
        "en": "Editing requires signing in: configure editors in sources.yaml (add an editor "
        "account with `reportwatch editor add NAME`), then sign in from the sidebar. Until then "
        "sources and refreshes are changed by the operator, on the command line and in the file.",
    },
    "edit_sign_in": {
        "zh": "编辑需要登录:请在「来源」页的侧边栏以编辑身份登录。",
        "en": "Editing requires signing in: sign in as an editor in the sidebar of the Sources "
        "page.",
    },
    "signin_title": {"zh": "编辑登录", "en": "Editor sign-in"},
    "signin_name": {"zh": "名称", "en": "Name"},
    "signin_password": {"zh": "密码", "en": "Password"},
    "signin_submit": {"zh": "登录", "en": "Sign in"},
    "signin_wrong": {"zh": "名称或密码不正确。", "en": "Wrong name or password."},
    "signin_limited": {
        "zh": "登录失败次数过多,请 {n} 秒后再试。",
        "en": "Too many failed sign-ins; try again in {n} s.",
    },
    "signin_oidc": {"zh": "用单点登录(SSO)", "en": "Sign in with SSO"},
    "signed_in_as": {"zh": "已以编辑身份登录:{name}", "en": "Signed in as editor: {name}"},
    "sign_out": {"zh": "退出登录", "en": "Sign out"},
    "session_expired": {
        "zh": "登录已过期,请重新登录。",
        "en": "Your sign-in expired; sign in again.",
    },
    "oidc_not_editor": {
        "zh": "已登录为 {email},但不在编辑名单中(sources.yaml 的 editors.emails / domains)。",
        "en": "Signed in as {email}, who is not an editor (editors.emails / domains in "
        "sources.yaml).",
    },
    # --- alert channels (issue 17) ---
    "channels": {"zh": "告警通道", "en": "Alert channels"},
    "col_kind": {"zh": "类型", "en": "Kind"},
    "col_started": {"zh": "开始推送", "en": "Started"},
    "col_last_sent": {"zh": "上次送达", "en": "Last sent"},
    "col_pending": {"zh": "待发送", "en": "Pending"},
    "col_failing": {"zh": "失败待重试", "en": "Failing"},
    "col_last_error_at": {"zh": "上次出错", "en": "Last error at"},
    "channel_pick": {"zh": "通道", "en": "Channel"},
    "channel_test": {"zh": "发送测试消息", "en": "Send a test message"},
    "channel_testing": {"zh": "正在发送…", "en": "Sending…"},
    "channel_test_ok": {
        "zh": "测试消息已送达「{name}」。",
        "en": "Test message delivered to “{name}”.",
    },
    "channel_test_failed": {
        "zh": "测试消息未能送达「{name}」:{error}",
        "en": "The test message to “{name}” was not delivered: {error}",
    },
    # --- feedback and why (issue 16) ---
    "feedback": {"zh": "反馈", "en": "Feedback"},
    "feedback_hint": {
        "zh": "你的判断对这条新闻是最终的,模型也会从中学习,改变相似新闻的标签。",
        "en": "Your verdict is final for this story, and the model learns from it to retag "
        "similar stories.",
    },
    "fb_relevant": {"zh": "相关", "en": "Relevant"},
    "fb_irrelevant": {"zh": "不相关", "en": "Not relevant"},
    "fb_add_tag": {"zh": "补充一个漏掉的标签", "en": "Add a missed tag"},
    "fb_pick_tag": {"zh": "选择标签", "en": "Pick a tag"},
    "fb_add": {"zh": "添加", "en": "Add"},
    "fb_saved": {
        "zh": "已记录「{tag}」的判断,模型正在后台重新学习。",
        "en": "Verdict on “{tag}” saved; the model is relearning in the background.",
    },
    "fb_withdrawn": {"zh": "已撤回「{tag}」的判断。", "en": "Verdict on “{tag}” withdrawn."},
    "fb_failed": {"zh": "反馈未能保存:", "en": "The feedback was not saved:"},
    "why": {"zh": "为什么", "en": "Why"},
    "why_analyst": {
        "zh": "分析师判定 {tag}:{verdict}",
        "en": "Analyst's verdict on {tag}: {verdict}",
    },
    "why_rule": {"zh": "规则 {tag}:命中 {words}", "en": "Rule {tag}: matched {words}"},
    "why_gate": {
        "zh": "模型 {tag}:没有门槛词,不参与判断",
        "en": "Model {tag}: no gate word, it does not judge this story",
    },
    "why_model": {
        "zh": "模型 {tag}({n} 条反馈训练):得分 {score},{verdict};影响最大:{top}",
        "en": "Model {tag} (trained on {n} verdicts): score {score}, {verdict}; "
        "weighed most: {top}",
    },
    "why_gives": {"zh": "给出该标签", "en": "gives the tag"},
    "why_not": {"zh": "不给该标签", "en": "does not give the tag"},
    "why_nothing": {
        "zh": "没有规则、模型或分析师给出标签。",
        "en": "No rule, model or analyst tags it.",
    },
    "why_unavailable": {
        "zh": "暂时无法解释(已记录日志)。",
        "en": "Cannot explain right now (logged).",
    },
    "field_title": {"zh": "标题", "en": "title"},
    "field_summary": {"zh": "摘要", "en": "summary"},
    "field_categories": {"zh": "分类", "en": "categories"},
    "field_model": {"zh": "模型", "en": "model"},
    "field_analyst": {"zh": "分析师", "en": "analyst"},
    "fb_explorer_pick": {
        "zh": "选中一行,可查看原因或给出反馈。",
        "en": "Select a row to see why it has its tags or to give feedback.",
    },
}


APP_NAME = "reportwatch"


def page_title(page: str, lang: str = "zh") -> str:
    """The browser tab's text for a page ("report", "explorer", "trends", "sources"), e.g.
    "趋势 · reportwatch"; the report page shows its report's title once one is picked."""
    return f"{t('page_' + page, lang)} · {APP_NAME}"


def t(key: str, lang: str = "zh", **values: object) -> str:
    """The string for `key` in `lang` (falls back to Chinese), formatted with `values`."""
    table = STRINGS[key]
    text = table.get(lang) or table["zh"]
    return text.format(**values) if values else text
