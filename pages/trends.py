"""Trends: how much was matched, per tag and per source, over time."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import streamlit as st

from reportwatch.store import analysis
from reportwatch.ui import figures
from reportwatch.ui.i18n import t
from reportwatch.ui.markdown import escape_markdown
from reportwatch.ui.sidebar import (
    bound,
    explorer_params,
    open_page,
    set_param,
    url_choice,
    writes,
)

page = open_page("trends")
lang, loaded, side, store = page.lang, page.loaded, page.side, page.store
tz = loaded.config.timezone


def url_radio(label: str, options: list[str], param: str, default: str, prefix: str) -> str:
    key = f"tr_{param}"
    bound(key, url_choice(param, options, default))
    return st.radio(
        label, options, key=key, horizontal=True, on_change=writes(param, key),
        format_func=lambda value: t(prefix + value, lang),
    )  # fmt: skip


st.title(t("page_trends", lang), anchor=False)
controls = st.columns([3, 2, 2])
with controls[0]:
    span = url_radio(t("time_range", lang), list(analysis.RANGES), "range", "7d", "range_")
with controls[1]:
    by: analysis.Bucket = (
        "hour" if url_radio(t("bucket", lang), ["day", "hour"], "by", "day", "bucket_") == "hour"
        else "day"
    )  # fmt: skip
with controls[2]:
    mode = url_radio(t("chart_mode", lang), ["lines", "stacked"], "mode", "lines", "mode_")

now = datetime.now(UTC)
start = analysis.range_start(span, now)
tags = side.watched
per_tag = analysis.tag_series(store, start, now, by, tz, tags)
zone = ZoneInfo(tz)
if per_tag.empty:  # say where the matches are, and offer the range that shows them
    hint = analysis.range_hint(store, now, tags)
    if hint is None:
        st.info(t("trends_empty", lang))
        st.stop()
    newest, chosen = hint.newest.astimezone(zone).date(), t("range_" + span, lang)
    if hint.range is None:
        st.info(t("trends_too_old", lang, range=chosen, date=newest))
        st.page_link("pages/explorer.py", label=t("page_explorer", lang), icon="🔎",
                     query_params=explorer_params(side))  # fmt: skip
    else:
        st.info(t("trends_older", lang, range=chosen, date=newest))
        st.button(t("trends_show_range", lang, range=t("range_" + hint.range, lang)),
                  key="tr_fit", on_click=set_param, args=("range", hint.range))  # fmt: skip
    st.stop()

days = {
    "from": start.astimezone(zone).date().isoformat(),
    "to": now.astimezone(zone).date().isoformat(),
}


def explorer_links(counts: dict[str, int], param: str) -> None:
    """One link a tag (or source) to the explorer, filtered to it and to this time range."""
    st.caption(t("open_in_explorer", lang))
    with st.container(horizontal=True):
        for name, n in counts.items():
            st.page_link(
                "pages/explorer.py", label=f"{escape_markdown(name)} · {n}", icon="🔎",
                query_params=explorer_params(side, **{param: name}, **days),
            )  # fmt: skip


st.subheader(t("fig_tags", lang), anchor=False)
st.plotly_chart(
    figures.tag_timeline(per_tag, by, stacked=mode == "stacked", y_title=t("matches", lang)),
    key="fig_tags",
)
explorer_links(analysis.totals(per_tag, "tag"), "tag")

st.subheader(t("fig_sources", lang), anchor=False)
per_source = analysis.source_series(store, start, now, by, tz, tags)
st.plotly_chart(
    figures.source_bars(per_source, by, y_title=t("entries_count", lang)),
    key="fig_sources",
)
explorer_links(analysis.totals(per_source, "source"), "source")

st.subheader(t("fig_heatmap", lang), anchor=False)
per_day = per_tag if by == "day" else analysis.tag_series(store, start, now, "day", tz, tags)
st.plotly_chart(figures.tag_heatmap(per_day), key="fig_heatmap")
