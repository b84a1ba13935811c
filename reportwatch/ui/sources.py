"""The sources page's parts that are not layout: the OPML import plan kept per file (host
lookups are slow), and why a feed was or was not added, in the UI language."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from reportwatch.config.opml import OpmlFeed
from reportwatch.config.sources_edit import Verdict, plan
from reportwatch.ui.i18n import t


def import_plan(
    file_id: str, feeds: Sequence[OpmlFeed], configured: Sequence[tuple[str, str]],
    allow_private: bool,
) -> list[Verdict]:  # fmt: skip
    """What merging this file would do, planned once per file and configuration (each feed's
    host is looked up) rather than on every rerun of the page."""
    cache_key = (file_id, tuple(configured), allow_private)
    cached = st.session_state.get("_opml_plan")
    if cached is None or cached[0] != cache_key:
        cached = (cache_key, plan(list(feeds), [url for _, url in configured], allow_private))
        st.session_state["_opml_plan"] = cached
    return cached[1]


def describe(verdict: Verdict, lang: str) -> str:
    """Why a feed was not added, in the UI language ('' when it was)."""
    if verdict.status == "duplicate":
        return t("source_exists", lang)
    if verdict.status == "refused":
        return t(verdict.reason, lang, detail=verdict.detail)
    return ""


def verdict_frame(verdicts: Sequence[Verdict], lang: str) -> pd.DataFrame:
    """The import preview: one row a feed with what merging would do."""
    rows = [
        {
            "title": v.feed.title,
            "url": v.feed.url,
            "verdict": t("verdict_" + v.status, lang),
            "reason": describe(v, lang),
        }
        for v in verdicts
    ]
    return pd.DataFrame(rows, columns=["title", "url", "verdict", "reason"])
