"""Explorer: every stored entry — searchable (Chinese too), filterable, paged and exportable."""

import streamlit as st

from reportwatch.store import explore
from reportwatch.ui import explore as explore_view
from reportwatch.ui.app import table
from reportwatch.ui.i18n import t
from reportwatch.ui.sidebar import bound, day, flag, open_page, writes
from reportwatch.ui.views import viewer_baseline

page = open_page("explorer")
lang, loaded, side, store = page.lang, page.loaded, page.side, page.store
tz = loaded.config.timezone
params = st.query_params
baseline = viewer_baseline()

st.title(t("page_explorer", lang), anchor=False)
top = st.columns([4, 1, 1, 1], vertical_alignment="bottom")
bound("ex_q", params.get("q", ""))
text = top[0].text_input(
    t("search", lang), key="ex_q", on_change=writes("q", "ex_q"),
    placeholder=t("search_hint", lang), max_chars=200,
)  # fmt: skip
bound("ex_all", params.get("all") == "1")
show_all = top[1].toggle(
    t("all_entries", lang), key="ex_all", on_change=writes("all", "ex_all", flag)
)
bound("ex_new", params.get("new") == "1")
new_only = top[2].toggle(t("new_only", lang), key="ex_new", on_change=writes("new", "ex_new", flag))
bound("ex_copies", params.get("copies") == "1")
every_copy = top[3].toggle(
    t("copies_toggle", lang), key="ex_copies", on_change=writes("copies", "ex_copies", flag)
)

row = st.columns([3, 1, 1, 1], vertical_alignment="bottom")
names = explore.source_names(store)
bound("ex_sources", [name for name in dict.fromkeys(params.get_all("source")) if name in names])
picked = row[0].multiselect(
    t("source_filter", lang), names, key="ex_sources",
    on_change=writes("source", "ex_sources", list), placeholder=t("all_sources", lang),
)  # fmt: skip
bound("ex_from", explore.parse_day(params.get("from")))
first = row[1].date_input(
    t("date_from", lang), value=None, key="ex_from", on_change=writes("from", "ex_from", day)
)
bound("ex_to", explore.parse_day(params.get("to")))
last = row[2].date_input(
    t("date_to", lang), value=None, key="ex_to", on_change=writes("to", "ex_to", day)
)
sorts = list(explore.SORTS)
bound("ex_sort", params.get("sort") if params.get("sort") in sorts else "newest")
sort = row[3].selectbox(
    t("sort", lang), sorts, key="ex_sort", on_change=writes("sort", "ex_sort"),
    format_func=lambda key: t("sort_" + key, lang),
)  # fmt: skip

start, end = explore.day_bounds(first, last, tz)
filters = explore.Filters(
    text=text.strip(), tags=tuple(side.tags), sources=tuple(picked), start=start, end=end,
    matched_only=not show_all, new_since=baseline if new_only else None, copies=every_copy,
)  # fmt: skip
result = explore_view.current_page(store, filters, baseline, tz, sort)
pages, number = result.extra["pages"], result.extra["number"]

if result.total == 0:
    stored = explore.count(store, explore.Filters(matched_only=False))
    st.info(t("explorer_empty" if stored else "explorer_empty_store", lang))
    st.stop()

st.caption(t("results", lang, n=result.total, page=number, pages=pages) + " · "
           + t("fb_explorer_pick", lang))  # fmt: skip
selected = table(
    result.frame,
    {
        "title": st.column_config.TextColumn(t("col_title", lang), width="large"),
        # Only http(s) links reach this column (explore_view.frame); the host is the link text.
        "link": st.column_config.LinkColumn(
            t("col_link", lang), display_text=r"https?://([^/?#]+)"
        ),
        "source": st.column_config.TextColumn(t("col_source", lang)),
        "also": st.column_config.ListColumn(t("col_also", lang)),
        "tags": st.column_config.ListColumn(t("col_tags", lang)),
        "published": st.column_config.DatetimeColumn(
            t("col_published", lang), format="YYYY-MM-DD HH:mm"
        ),
        "first_seen": st.column_config.DatetimeColumn(
            t("col_first_seen", lang), format="YYYY-MM-DD HH:mm"
        ),
        "new": st.column_config.CheckboxColumn(t("col_new", lang)),
        "matched": st.column_config.CheckboxColumn(t("col_matched", lang)),
        "summary": st.column_config.TextColumn(t("col_summary", lang), width="large"),
        "story": None,  # kept for the exports, not shown
    },
    select_key="ex_table",
)
if pages > 1:
    st.pagination(pages, key="ex_page")
if selected and selected[0] < len(result.frame):
    watched = side.report_tags or list(loaded.config.tags)
    explore_view.selected_story(loaded, store, result.frame.iloc[selected[0]], watched, lang)


def export(kind: str) -> bytes:
    """Built only when the button is clicked (deferred download data)."""
    df = explore_view.export_frame(store, filters, baseline, tz, sort)
    return explore_view.to_csv_bytes(df) if kind == "csv" else explore_view.to_json_bytes(df)


buttons = st.columns([1, 1, 4], vertical_alignment="center")
buttons[0].download_button(
    t("export_csv", lang), data=lambda: export("csv"), file_name="reportwatch-entries.csv",
    mime="text/csv", on_click="ignore", key="export_csv", icon="⬇️",
)  # fmt: skip
buttons[1].download_button(
    t("export_json", lang), data=lambda: export("json"), file_name="reportwatch-entries.json",
    mime="application/json", on_click="ignore", key="export_json", icon="⬇️",
)  # fmt: skip
limit = explore_view.EXPORT_LIMIT
buttons[2].caption(t("export_note", lang, n=min(result.total, limit), limit=limit))
