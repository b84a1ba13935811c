"""The sidebar every analysis page shares, and widgets whose state lives in the URL.

The URL is the source of truth: before a widget is drawn its session state is set from the
query parameters, and its on_change callback writes the new value back. So a shared link, a
browser refresh and a link from another page (trends → explorer) all show the same view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

import streamlit as st

from reportwatch.config.reports import Report
from reportwatch.config.settings import NAME_MAX, LoadedConfig
from reportwatch.store.core import Store
from reportwatch.ui.app import (
    current_config,
    get_reports,
    language,
    name_page,
    open_store_or_banner,
    show_problems,
)
from reportwatch.ui.auth import editor_sidebar
from reportwatch.ui.i18n import t
from reportwatch.ui.panel import parse_baseline
from reportwatch.ui.views import report_picker

KEPT_PARAMS = ("report", "tag", "seen")  # what follows the viewer from page to page
MAX_TEXT = 200  # characters of a text from the URL (the search box takes no more)
MAX_TAGS = 20  # tags one URL can choose


def carry_params(page: str) -> None:
    """Restore report/tag/seen after a page change (the navigation menu drops the query string).

    Called by dashboard.py before the page runs. A parameter the new URL names (a link to
    `explorer?tag=…`) wins over the remembered one.
    """
    state = st.session_state
    remembered: dict[str, list[str]] = state.get("_rw_params", {})
    if state.get("_rw_page") not in (None, page):
        for param in KEPT_PARAMS:
            if param not in st.query_params and remembered.get(param):
                st.query_params[param] = remembered[param]
    state["_rw_page"] = page
    remember_params()


def remember_params() -> None:
    """Note the current report/tag/seen; dashboard.py also calls it after a page ran, since
    pages set some of them while they run (the report page sets `seen`)."""
    st.session_state["_rw_params"] = {p: st.query_params.get_all(p) for p in KEPT_PARAMS}


def set_param(param: str, value: str | list[str] | None) -> None:
    """Write a query parameter; an empty value removes it (short, clean URLs)."""
    if value in (None, "", []):
        st.query_params.pop(param, None)
    else:
        st.query_params[param] = value


def bound(key: str, value: object) -> None:
    """Show `value` (read from the URL) in the widget `key`, which must not be drawn yet.
    A text out of range (see url_text) is shown as absent: no widget would have written it."""
    st.session_state[key] = (url_text(value) or "") if isinstance(value, str) else value


def url_text(value: object, limit: int = MAX_TEXT) -> str | None:
    """A text value from the URL, or None when it is out of range (not a string, or longer
    than `limit` characters). A text no stored row holds (NUL) stays: it finds nothing."""
    return value if isinstance(value, str) and len(value) <= limit else None


def url_choice(param: str, options: Sequence[str], default: str) -> str:
    """The URL's `param` when it is one of `options`, else `default` (unknown values are
    ignored; a repeated parameter counts by its last value, as st.query_params.get reads it)."""
    value = st.query_params.get(param)
    return value if value in options else default


def url_tags() -> list[str]:
    """The tags the URL chooses (`tag`, repeatable): each once, in order, at most MAX_TAGS.
    Empty values and values longer than any tag (NAME_MAX) are ignored; an unknown tag is
    kept (a shared link keeps its tags; one with NUL finds nothing)."""
    tags = [tag for tag in st.query_params.get_all("tag") if tag and len(tag) <= NAME_MAX]
    return list(dict.fromkeys(tags))[:MAX_TAGS]


def writes(
    param: str, key: str, encode: Callable[[object], str | list[str] | None] = str
) -> Callable[[], None]:
    """An on_change callback that copies widget `key` into query parameter `param`."""

    def callback() -> None:
        value = st.session_state.get(key)
        set_param(param, None if value in (None, "", [], False) else encode(value))

    return callback


def flag(value: object) -> str:
    return "1"


def day(value: object) -> str | None:
    return value.isoformat() if isinstance(value, date) else None


@dataclass
class Sidebar:
    report: Report | None
    tags: list[str]  # chosen in the URL (empty: no tag filter)
    report_tags: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)

    @property
    def watched(self) -> list[str]:
        """The chosen tags, else the report's, else every configured tag."""
        return self.tags or self.report_tags or self.options


def shared_sidebar(loaded: LoadedConfig, lang: str, page: str) -> Sidebar:
    """Language, report picker and tag filter; call it first thing on every analysis page.

    `page` is the page's url_path in dashboard.py. carry_params runs here too because a page
    can run without dashboard.py: Streamlit runs files from `pages/` directly (the "pages
    directory" mode) on a server's first request and under AppTest.
    """
    carry_params(page)
    reports = get_reports(loaded)
    report = report_picker(reports.reports, lang)
    report_tags = list(dict.fromkeys(report.tags)) if report else []
    options = list(dict.fromkeys([*report_tags, *loaded.config.tags]))
    chosen = url_tags()
    options += [tag for tag in chosen if tag not in options]  # a shared link keeps its tags
    bound("side_tags", chosen)
    with st.sidebar:
        st.multiselect(
            t("tag_filter", lang), options, key="side_tags",
            on_change=writes("tag", "side_tags", list), placeholder=t("all_tags", lang),
        )  # fmt: skip
    editor_sidebar(loaded, lang)  # sign in / out (reportwatch/ui/auth.py)
    return Sidebar(report, chosen, report_tags, options)


def explorer_params(sidebar: Sidebar, **extra: str | list[str]) -> dict[str, str | list[str]]:
    """Query parameters for a link to the explorer that keeps the report and baseline."""
    params: dict[str, str | list[str]] = {}
    if sidebar.report is not None:
        params["report"] = sidebar.report.slug
    seen = st.query_params.get("seen")
    if parse_baseline(seen) is not None:  # only a baseline the explorer will accept
        params["seen"] = seen
    params.update(extra)
    return params


@dataclass
class PageContext:
    lang: str
    loaded: LoadedConfig
    side: Sidebar
    store: Store


def open_page(page: str) -> PageContext:
    """The start of every analysis page: banners, shared sidebar, store (or stop with why)."""
    lang = language()
    name_page(page, lang)
    loaded, config_error = current_config()
    show_problems(loaded, config_error, lang)
    if loaded is None:
        st.stop()
    side = shared_sidebar(loaded, lang, page)
    store = open_store_or_banner(loaded, lang)
    if store is None:
        st.stop()
    return PageContext(lang, loaded, side, store)
