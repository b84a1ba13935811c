"""Streamlit components for the report page: the report itself and the 实时监测中 panel."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import streamlit as st

from reportwatch.config.reports import Report
from reportwatch.config.settings import LoadedConfig
from reportwatch.match.learned import LearnedMatcher
from reportwatch.match.matcher import highlight_spans
from reportwatch.store.core import Store
from reportwatch.store.errors import StoreError
from reportwatch.store.queries import (
    Item,
    count_new,
    data_version,
    fresh_counts,
    last_success,
    matched_items,
    next_due,
    source_health,
    tag_counts,
)
from reportwatch.ui.app import ensure_poller, get_store, get_store_by_url, refresh_gate
from reportwatch.ui.auth import can_edit, edit_notice
from reportwatch.ui.feedback import (
    feedback_controls,
    relevance_matcher,
    show_flash,
    verdicts_for,
    why_popover,
)
from reportwatch.ui.i18n import t
from reportwatch.ui.markdown import escape_markdown, highlight, markdown_link
from reportwatch.ui.panel import (
    PanelStatus,
    format_baseline,
    local_time,
    panel_status,
    parse_baseline,
    relative_time,
    tab_title,
)

log = logging.getLogger(__name__)
PAGE_SIZE = 20
STATE_ICON = {"live": "🟢", "delayed": "🟠", "stopped": "🔴", "never": "⚪"}


def render_report(report: Report, lang: str, fresh: int = 0) -> None:
    st.set_page_config(page_title=tab_title(report.title))  # the panel adds its new count
    st.caption(f"✅ {t('verified', lang)}")
    st.title(report.title, anchor=False)
    byline = f":blue-badge[{escape_markdown(report.kind)}] &nbsp; "
    byline += escape_markdown(t("author", lang, author=report.author))
    if report.verified:
        byline += f" &nbsp; · &nbsp; {report.verified:%Y-%m-%d}"
    st.markdown(byline)
    st.markdown(" ".join(f":gray-badge[#{escape_markdown(tag)}]" for tag in report.tags))
    if fresh and report.verified:
        st.warning(t("needs_revision", lang, n=fresh), icon="🔔")
    with st.container(border=True):
        st.subheader(t("summary", lang), anchor=False)
        st.markdown(report.summary)
    if report.tldr:
        st.info(f"**{t('tldr', lang)}**\n\n{report.tldr}")
    for section in report.sections:
        if section.heading:
            if section.level <= 2:
                st.header(section.heading, anchor=False, divider="gray")
            else:
                st.subheader(section.heading, anchor=False)
        if section.markdown.strip():
            st.markdown(section.markdown)
    if report.faq:
        st.header(t("faq", lang), anchor=False, divider="gray")
        for item in report.faq:
            with st.expander(item.q):
                st.markdown(item.a)
    st.header(t("about", lang), anchor=False, divider="gray")
    if report.method:
        st.subheader(t("method", lang), anchor=False)
        st.markdown(report.method)
    if report.updates:
        st.subheader(t("updates", lang), anchor=False)
        st.markdown(report.updates)
    if report.verified:
        st.success(
            f"{t('verified_process', lang)} · {t('verified_on', lang, date=report.verified)}"
        )


@st.cache_data(show_spinner=False, max_entries=256)
def _counts(url: str, version: tuple, kind: str, since: datetime | None, tags: tuple) -> object:
    """Counts over every match only change when a cycle finishes: cache them per data version."""
    store = get_store_by_url(url)
    return tag_counts(store) if kind == "tags" else fresh_counts(store, since, tags)


def cached_tag_counts(store: Store) -> dict[str, int]:
    return _counts(store.url, data_version(store), "tags", None, ())  # type: ignore[return-value]


def cached_fresh_counts(
    store: Store, since: datetime, tags: tuple[str, ...]
) -> tuple[int, dict[str, int]]:
    return _counts(store.url, data_version(store), "fresh", since, tags)  # type: ignore[return-value]


def report_freshness(loaded: LoadedConfig, report: Report) -> int:
    """How many related entries arrived since the report was verified (0 when unknown)."""
    if report.verified is None:
        return 0
    since = datetime.combine(report.verified, datetime.min.time(), UTC)
    try:
        return cached_fresh_counts(get_store(loaded), since, tuple(report.tags))[0]
    except StoreError:  # the panel says what is wrong; the report still shows
        return 0


def selected_tags(report: Report) -> list[str]:
    return [tag for tag in st.query_params.get_all("tag") if tag]


def viewer_baseline() -> datetime:
    """Where 'new' starts for this viewer; kept in the URL so a refresh keeps it."""
    baseline = parse_baseline(st.query_params.get("seen"))
    if baseline is None:
        baseline = datetime.now(UTC)
        st.query_params["seen"] = format_baseline(baseline)
    return baseline


def _status_line(status: PanelStatus, loaded: LoadedConfig, lang: str, now: datetime) -> str:
    tz = loaded.config.timezone
    parts = [f"**{t('state_' + status.state, lang)}**"]
    if status.reason:
        parts.append(t(status.reason, lang))
    if status.last_success:
        when = local_time(status.last_success, tz)
        rel = relative_time(status.last_success, now, lang)
        parts.append(f"{t('last_update', lang)}: {when} ({rel})")
    else:
        parts.append(f"{t('last_update', lang)}: —")
    if status.next_due and status.state != "stopped":
        due = (
            relative_time(status.next_due, now, lang)
            if status.next_due > now
            else t("overdue", lang)
        )
        parts.append(t("next_cycle", lang, when=due))
    return " · ".join(parts)


@dataclass
class CardContext:
    """What every card of one panel run shares: the store, the report's tags, the verdicts on
    the stories shown, and the rules with their models (None when they cannot be loaded)."""

    store: Store
    watched: list[str]
    verdicts: dict[tuple[int, str], bool]
    matcher: LearnedMatcher | None


def _card_context(loaded: LoadedConfig, store: Store, items: list[Item],
                  watched: list[str]) -> CardContext:  # fmt: skip
    try:
        matcher: LearnedMatcher | None = relevance_matcher(loaded, store)
    except Exception:  # the cards show without "why"; the error is in the server log
        log.exception("loading the relevance models failed")
        matcher = None
    return CardContext(store, watched, verdicts_for(store, [i.story for i in items]), matcher)


def _render_item(
    item: Item, is_new: bool, loaded: LoadedConfig, lang: str, ctx: CardContext | None = None
) -> None:
    with st.container(border=True):
        badge = f":red-badge[{t('new', lang)}] " if is_new else ""
        title = item.title or item.link or "—"
        spans = highlight_spans(title, item.keywords)
        st.markdown(badge + markdown_link(title, item.link, spans))
        when = item.published or item.first_seen
        flag = "" if item.published else " " + t("first_seen_flag", lang)
        chips = " ".join(f":violet-badge[{escape_markdown(tag)}]" for tag in item.tags)
        st.caption(
            f"{escape_markdown(item.source)} · {local_time(when, loaded.config.timezone)}{flag}"
        )
        st.markdown(chips)
        also = _also(item)
        if also:  # the same story from other feeds: each source a link to its copy
            st.markdown(f"{t('also', lang)} " + " · ".join(also))
        if item.summary:
            short = item.summary[:200] + ("…" if len(item.summary) > 200 else "")
            st.markdown(highlight(short, highlight_spans(short, item.keywords)))
        if ctx is not None:
            with st.container(horizontal=True):
                why_popover(ctx.matcher, item.story, item.title, item.summary, ctx.verdicts, lang,
                            key="panel")  # fmt: skip
                feedback_controls(loaded, ctx.store, item.story, item.tags, ctx.watched,
                                  ctx.verdicts, lang, key="panel")  # fmt: skip


def _also(item: Item) -> list[str]:
    """The story's other sources (not the card's own), once each, as links to their copies."""
    links: dict[str, str | None] = {}
    for copy in item.others:
        if copy.source != item.source:
            links.setdefault(copy.source, copy.link)
    return [markdown_link(name, link) for name, link in links.items()]


def render_panel(loaded: LoadedConfig, report: Report, lang: str) -> None:
    """The live panel; re-runs on its own every ui_refresh seconds without reloading the page."""

    @st.fragment(run_every=loaded.config.ui_refresh)
    def live_panel() -> None:
        try:
            panel_body()
        except StoreError as exc:
            st.error(f"{t('store_error', lang)} {escape_markdown(str(exc))}")
        except Exception:  # the report must stay readable whatever happens in the panel
            log.exception("live panel failed")
            st.error(t("panel_error", lang))

    def panel_body() -> None:
        store = get_store(loaded)
        poller = ensure_poller(loaded)
        if poller is not None and poller.last_error:  # e.g. a read-only or locked database
            st.error(f"{t('poller_failed', lang)} {escape_markdown(poller.last_error)}")
        now = datetime.now(UTC)
        health = source_health(store)
        status = panel_status(
            now,
            last_success(store),
            next_due(store),
            loaded.config.poll_interval,
            health,
            poller_running=bool(poller and poller.alive),
            configured=sum(s.enabled for s in loaded.config.sources),
        )
        baseline = viewer_baseline()
        report_tags = list(dict.fromkeys(report.tags))
        chosen = [tag for tag in selected_tags(report) if tag in report_tags]
        watch = chosen or report_tags
        new = count_new(store, baseline, watch)
        st.set_page_config(page_title=tab_title(report.title, new))
        last_new = st.session_state.get("_last_new")
        if last_new is not None and new > last_new:
            st.toast(t("toast_new", lang, n=new - last_new), icon="🆕")
        st.session_state["_last_new"] = new

        st.subheader(f"{STATE_ICON[status.state]} {t('monitoring', lang)}", anchor=False)
        st.markdown(_status_line(status, loaded, lang, now))
        counts = cached_tag_counts(store)
        # Options are the bare tags (stable across refreshes); counts are only their labels.
        # The URL is the source of truth (as sidebar.bound/writes): the pills show its tags,
        # and a click writes them back before the fragment reruns.
        st.session_state["tag_pills"] = chosen
        st.pills(
            t("tag_filter", lang),
            report_tags,
            selection_mode="multi",
            format_func=lambda tag: f"{tag} ({counts.get(tag, 0)})",
            key="tag_pills",
            on_change=_write_tags,
        )

        if report.verified:
            since = datetime.combine(report.verified, datetime.min.time(), UTC)
            fresh, per_tag = cached_fresh_counts(store, since, tuple(watch))
            detail = " · ".join(f"{escape_markdown(tag)} {n}" for tag, n in per_tag.items())
            line = t("since_verified", lang, date=report.verified, n=fresh)
            st.caption(line + (f" ({detail})" if detail else ""))

        cols = st.columns(2)
        if new:
            cols[0].markdown(f":red-badge[{t('new_count', lang, n=new)}]")
        if cols[1].button(t("mark_read", lang), key="mark_read"):
            st.query_params["seen"] = format_baseline(now)
            st.session_state["_last_new"] = 0
            st.rerun(scope="fragment")

        limit = st.session_state.get("_limit", PAGE_SIZE)
        items = matched_items(store, tags=watch, limit=limit)
        if not items:
            if status.last_success is None and status.reason == "reason_all_failing":
                st.info(t("empty_failing", lang))
            elif status.last_success is None:
                st.info(t("never_polled", lang))
            elif chosen:
                st.info(t("empty_filtered", lang))
            else:
                st.info(t("empty_no_match", lang))
        show_flash()
        ctx = _card_context(loaded, store, items, report_tags)
        for item in items:
            _render_item(item, item.first_seen > baseline, loaded, lang, ctx)
        if len(items) >= limit and st.button(t("more", lang), key="more"):
            st.session_state["_limit"] = limit + PAGE_SIZE
            st.rerun(scope="fragment")

        _refresh_now(loaded, lang)
        with st.expander(t("sources_status", lang)):
            for s in health:
                state = t("status_" + (s.status or "never_checked"), lang)
                detail = f" — {escape_markdown(s.error)}" if s.error else ""
                st.markdown(f"**{escape_markdown(s.name)}**: {state}{detail}")

    live_panel()


def _write_tags() -> None:
    """The panel's tag pills → `?tag=` (none chosen: no parameter)."""
    picked = st.session_state.get("tag_pills") or []
    if picked:
        st.query_params["tag"] = picked
    else:
        st.query_params.pop("tag", None)


def _refresh_now(loaded: LoadedConfig, lang: str) -> None:
    from reportwatch.poll.cycle import run_cycle

    if not can_edit(loaded):  # viewers read; a refresh is the editors' (it fetches every feed)
        edit_notice(loaded, lang, small=True)
        return
    if not st.button(t("refresh_now", lang), key="refresh_now", icon="🔄"):
        return
    wait = refresh_gate().try_acquire()
    if wait:
        st.warning(t("refresh_limited", lang, n=int(wait) + 1))
        return
    with st.status(t("refreshing", lang), expanded=False) as box:
        report = run_cycle(loaded, get_store(loaded), force=True, trigger="manual")
        box.update(
            label=t("refresh_done", lang, n=len(report.outcomes), new=report.new_entries,
                    errors=report.errors),
            state="complete",
        )  # fmt: skip


def report_picker(reports: list[Report], lang: str) -> Report | None:
    """Sidebar picker bound to `?report=<slug>`; the first report when none is named."""
    if not reports:
        return None
    slugs = [r.slug for r in reports]
    wanted = st.query_params.get("report")
    index = slugs.index(wanted) if wanted in slugs else 0
    with st.sidebar:
        lang_choice = st.radio(
            t("language", lang), ["zh", "en"], index=["zh", "en"].index(lang),
            format_func=lambda code: {"zh": "中文", "en": "English"}[code], horizontal=True,
        )  # fmt: skip
        if lang_choice != lang:
            st.session_state["lang"] = lang_choice
            st.rerun()
        slug = st.selectbox(
            t("report_picker", lang), slugs, index=index,
            format_func=lambda s: next(r.title for r in reports if r.slug == s),
        )  # fmt: skip
    if slug != wanted:
        st.query_params["report"] = slug
    return reports[slugs.index(slug)]
