"""Streamlit-side plumbing: cached config, store and poller, shared by every page."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from reportwatch.config.reports import ReportSet, load_reports
from reportwatch.config.settings import ConfigError, LoadedConfig, config_path, load_config
from reportwatch.poll.loop import EmbeddedPoller
from reportwatch.store.core import Store, StoreError, open_store
from reportwatch.ui.i18n import page_title, t
from reportwatch.ui.markdown import escape_markdown

POLLER_ENV = "REPORTWATCH_EMBEDDED_POLLER"  # "0" turns the in-process poller off (workers poll)
MISSING = "—"  # what a table cell with no value shows (Streamlit's default is the text "None")


@dataclass
class ConfigHolder:
    """The last good configuration, so a file that turns bad does not take the app down."""

    good: LoadedConfig | None = None
    mtime: float | None = None
    error: ConfigError | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def current(self, path: Path) -> LoadedConfig:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            mtime = None
        with self.lock:
            if self.good is not None and mtime == self.mtime and self.error is None:
                return self.good
            try:
                self.good = load_config(path)
                self.error = None
            except ConfigError as exc:
                self.error = exc
                if self.good is None:
                    raise
            self.mtime = mtime
            return self.good


@st.cache_resource
def _config_holder(path: str) -> ConfigHolder:
    return ConfigHolder()


def current_config() -> tuple[LoadedConfig | None, ConfigError | None]:
    """(config in use, current problem). The config is the last good one when the file broke."""
    path = config_path()
    holder = _config_holder(str(path.resolve()))
    try:
        return holder.current(path), holder.error
    except ConfigError as exc:
        return None, exc


@st.cache_resource(show_spinner=False)
def _store(url: str) -> Store:
    return open_store(url)


def get_store(loaded: LoadedConfig) -> Store:
    return _store(loaded.config.database_url)


def get_store_by_url(url: str) -> Store:
    return _store(url)


def _stop_poller(poller: EmbeddedPoller | None) -> None:
    if poller is not None:
        poller.stop()


@st.cache_resource(show_spinner=False, on_release=_stop_poller)
def _poller(url: str, path: str) -> EmbeddedPoller | None:
    """One background poller per server process (cache_resource is process-wide)."""
    holder = _config_holder(path)
    return EmbeddedPoller(lambda: holder.current(Path(path)), _store(url)).start()


def ensure_poller(loaded: LoadedConfig) -> EmbeddedPoller | None:
    if os.environ.get(POLLER_ENV, "1") == "0" or not loaded.config.embedded_poller:
        return None
    return _poller(loaded.config.database_url, str(config_path().resolve()))


@st.cache_data(show_spinner=False, ttl=5)
def _reports(folder: str, _stamp: float) -> ReportSet:
    return load_reports(Path(folder))


def get_reports(loaded: LoadedConfig) -> ReportSet:
    folder = loaded.reports_path
    stamp = max((p.stat().st_mtime for p in folder.glob("*.md")), default=0.0)
    return _reports(str(folder), stamp)


@dataclass
class RefreshGate:
    """Rate limit for 立即刷新 across every viewer of this server process."""

    min_gap: float = 30.0
    last: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def try_acquire(self) -> float:
        """0 when a refresh may run now, else seconds to wait."""
        with self.lock:
            wait = self.min_gap - (time.monotonic() - self.last)
            if self.last and wait > 0:
                return wait
            self.last = time.monotonic()
            return 0.0


@st.cache_resource
def refresh_gate() -> RefreshGate:
    return RefreshGate()


def language() -> str:
    lang = st.session_state.get("lang")
    if lang in ("zh", "en"):
        return lang
    loaded, _ = current_config()
    return loaded.config.language if loaded else "zh"


def name_page(page: str, lang: str) -> None:
    """Name the browser tab after the page ("趋势 · reportwatch"); dashboard.py set "reportwatch".
    Streamlit allows set_page_config again at any point of a run, fragments included."""
    st.set_page_config(page_title=page_title(page, lang))


def table(
    data: Any, column_config: dict[str, Any] | None = None, select_key: str | None = None
) -> list[int]:
    """A read-only table as every page shows one: full width, no index, "—" for a missing date
    or number. Text columns come without missing values from the functions building them.
    With `select_key`, one row can be selected: returns its position ([] when none)."""
    if select_key is None:
        st.dataframe(
            data, hide_index=True, width="stretch", placeholder=MISSING, column_config=column_config
        )
        return []
    event = st.dataframe(
        data, hide_index=True, width="stretch", placeholder=MISSING, column_config=column_config,
        key=select_key, on_select="rerun", selection_mode="single-row",
    )  # fmt: skip
    return list(event.selection.rows)


def show_problems(loaded: LoadedConfig | None, error: ConfigError | None, lang: str) -> None:
    """Banners instead of crashes: a bad config, a stale config, demo data."""
    if error is not None:
        key = "config_stale" if loaded is not None else "config_error"
        st.error(t(key, lang) + "\n\n" + "\n".join(f"- `{p}`" for p in error.problems))
    if loaded is not None and loaded.config.demo:
        st.warning(t("demo", lang), icon="🧪")


def open_store_or_banner(loaded: LoadedConfig, lang: str) -> Store | None:
    try:
        return get_store(loaded)
    except StoreError as exc:
        st.error(f"{t('store_error', lang)} {escape_markdown(str(exc))}")
        return None
