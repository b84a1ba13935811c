"""Sources: can we trust them? Health, poll history, OPML import and export."""

from datetime import UTC, datetime

import streamlit as st

from reportwatch.config.opml import OpmlError, OpmlFeed, build_opml, parse_opml
from reportwatch.config.sources_edit import MergeError, merge_sources
from reportwatch.store import analysis
from reportwatch.store.queries import source_health
from reportwatch.ui import figures, tables
from reportwatch.ui.app import table
from reportwatch.ui.auth import can_edit, edit_notice
from reportwatch.ui.i18n import t
from reportwatch.ui.markdown import escape_markdown
from reportwatch.ui.sidebar import bound, open_page, url_choice, writes
from reportwatch.ui.sources import describe, import_plan, verdict_frame
from reportwatch.urls import host_of, normalise_url

page = open_page("sources")
lang, loaded, side, store = page.lang, page.loaded, page.side, page.store
tz = loaded.config.timezone
allow_private = loaded.config.allow_private_sources
st.title(t("page_sources", lang), anchor=False)

# -- health -------------------------------------------------------------------------------
health = source_health(store, include_disabled=True)
failing = [s for s in health if s.enabled and s.status == "error"]
if failing:
    lines = [f"- **{escape_markdown(s.name)}**: {escape_markdown(s.error or '—')}" for s in failing]
    st.warning(t("sources_failing", lang, n=len(failing)) + "\n\n" + "\n".join(lines), icon="⚠️")
health_table = tables.health_frame(health, tz, lang)
if health_table.empty:
    st.info(t("sources_none", lang))
else:
    when = lambda key: st.column_config.DatetimeColumn(t(key, lang), format="MM-DD HH:mm:ss")  # noqa: E731
    table(
        tables.health_style(health_table),
        {
            "name": st.column_config.TextColumn(t("col_name", lang), pinned=True),
            "status": st.column_config.TextColumn(t("col_status", lang)),
            "last_checked": when("col_last_checked"),
            "last_ok": when("col_last_ok"),
            "latency": st.column_config.NumberColumn(t("col_latency", lang), format="%.2f s"),
            "bytes": st.column_config.NumberColumn(t("col_bytes", lang), format="compact"),
            "entries": st.column_config.NumberColumn(t("col_entries", lang)),
            "error": st.column_config.TextColumn(t("col_error", lang), width="large"),
            "next_due": when("col_next_due"),
            "failures": st.column_config.NumberColumn(t("col_failures", lang)),
            "url": st.column_config.TextColumn(t("col_url", lang)),
        },
    )

# -- history ------------------------------------------------------------------------------
st.subheader(t("history", lang), anchor=False)
spans = ["1d", "7d", "30d"]
bound("so_range", url_choice("range", spans, "7d"))
span = st.radio(
    t("time_range", lang), spans, key="so_range", horizontal=True,
    on_change=writes("range", "so_range"), format_func=lambda key: t("range_" + key, lang),
)  # fmt: skip
runs = analysis.run_history(store, analysis.range_start(span, datetime.now(UTC)))
if runs.empty:
    st.info(t("history_empty", lang))
else:
    titles = (t("fig_duration", lang), t("fig_new", lang), t("fig_errors", lang))
    st.plotly_chart(figures.run_history(runs, titles), key="fig_runs")

# -- alert channels -------------------------------------------------------------------------
if loaded.config.notify:
    st.subheader(t("channels", lang), anchor=False)
    kinds = {c.name: c.kind for c in loaded.config.notify}
    statuses = store.channel_status(list(kinds))
    when = lambda key: st.column_config.DatetimeColumn(t(key, lang), format="MM-DD HH:mm:ss")  # noqa: E731
    table(
        tables.channels_frame(statuses, kinds, tz),
        {
            "name": st.column_config.TextColumn(t("col_name", lang), pinned=True),
            "kind": st.column_config.TextColumn(t("col_kind", lang)),
            "started": when("col_started"),
            "last_sent": when("col_last_sent"),
            "pending": st.column_config.NumberColumn(t("col_pending", lang)),
            "failing": st.column_config.NumberColumn(t("col_failing", lang)),
            "last_error": st.column_config.TextColumn(t("col_error", lang), width="large"),
            "last_error_at": when("col_last_error_at"),
        },
    )
    if can_edit(loaded):
        row = st.columns([2, 1], vertical_alignment="bottom")
        chosen = row[0].selectbox(t("channel_pick", lang), list(kinds), key="notify_pick")
        if row[1].button(t("channel_test", lang), key="notify_test", icon="📨"):
            from reportwatch.poll.alerts import send_test

            with st.spinner(t("channel_testing", lang)):
                result = send_test(loaded, chosen)
            if result.ok:
                st.success(t("channel_test_ok", lang, name=escape_markdown(chosen)))
            else:
                st.error(t("channel_test_failed", lang, name=escape_markdown(chosen),
                           error=escape_markdown(result.error)))  # fmt: skip

# -- OPML and new sources -----------------------------------------------------------------
st.subheader(t("opml", lang), anchor=False)
configured = [(s.name, s.url) for s in loaded.config.sources]
st.download_button(
    t("opml_export", lang), data=build_opml(configured), file_name="reportwatch-sources.opml",
    mime="text/x-opml", on_click="ignore", key="opml_export", icon="⬇️",
)  # fmt: skip

if not can_edit(loaded):  # the rest of the page changes sources.yaml: editors only
    edit_notice(loaded, lang)
    st.stop()

upload = st.file_uploader(t("opml_import", lang), type=["opml", "xml"], key="opml_file")
if upload is not None:
    try:
        feeds = parse_opml(upload.getvalue())
    except OpmlError as exc:
        st.error(f"{t('opml_bad', lang)} {escape_markdown(str(exc))}")
        feeds = []
    if feeds:
        verdicts = import_plan(upload.file_id, feeds, configured, allow_private)
        addable = sum(v.ok for v in verdicts)
        st.caption(t("opml_preview", lang, n=len(verdicts), new=addable))
        table(verdict_frame(verdicts, lang))
        if st.button(t("opml_merge", lang, n=addable), disabled=not addable, key="opml_merge"):
            try:
                done = merge_sources(loaded.path, feeds, allow_private)
            except MergeError as exc:
                st.error(f"{t('merge_failed', lang)} {escape_markdown(str(exc))}")
            else:
                added = sum(v.ok for v in done)
                st.success(t("opml_merged", lang, n=added, path=escape_markdown(loaded.path.name)))

with st.form("add_source", clear_on_submit=False):
    st.markdown(f"**{t('add_source', lang)}**")
    name = st.text_input(t("source_name", lang), key="new_name", max_chars=200)
    url = st.text_input(t("source_url", lang), key="new_url", max_chars=2000)
    submitted = st.form_submit_button(t("add_source", lang))
if submitted and url.strip():
    feed = OpmlFeed(name.strip() or host_of(normalise_url(url)), normalise_url(url))
    try:
        verdict = merge_sources(loaded.path, [feed], allow_private)[0]
    except MergeError as exc:
        st.error(f"{t('merge_failed', lang)} {escape_markdown(str(exc))}")
    else:
        if verdict.ok:
            st.success(t("source_added", lang, name=escape_markdown(verdict.name)))
        else:
            st.error(escape_markdown(describe(verdict, lang)))
