"""The live panel's logic as plain functions: status, times, the viewer's 'new' baseline."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from reportwatch.store.queries import SourceHealth
from reportwatch.ui.i18n import t

State = Literal["live", "delayed", "stopped", "never"]
_SECONDS = re.compile(r"\d{1,11}(?:\.\d{1,6})?", re.ASCII)  # format_baseline writes these
CLOCK_SLACK = timedelta(days=1)  # a baseline may be this far ahead (hosts' clocks differ)


@dataclass(frozen=True)
class PanelStatus:
    state: State
    last_success: datetime | None
    next_due: datetime | None
    reason: str | None = None  # an i18n key saying why it is stopped


def panel_status(
    now: datetime,
    last_success: datetime | None,
    next_due: datetime | None,
    poll_interval: int,
    sources: Sequence[SourceHealth],
    poller_running: bool,
    configured: int,
) -> PanelStatus:
    """Live only when a cycle succeeded within 2 × poll_interval; never because a page rendered.

    `configured` is how many sources the config enables (the store learns of them at the first
    cycle, so it cannot be the judge of "no source at all").
    """
    enabled = [s for s in sources if s.enabled]
    checked = [s.last_checked for s in enabled if s.last_checked]
    recently_checked = bool(checked) and (now - max(checked)).total_seconds() <= 2 * poll_interval
    if not configured:
        return PanelStatus("stopped", last_success, next_due, "reason_no_sources")
    if not poller_running and not recently_checked:
        return PanelStatus("stopped", last_success, next_due, "reason_no_poller")
    if (
        checked
        and all(s.status == "error" for s in enabled if s.last_checked)
        and len(checked) == len(enabled)
    ):
        return PanelStatus("stopped", last_success, next_due, "reason_all_failing")
    if last_success is None:
        return PanelStatus("never", None, next_due)
    if (now - last_success).total_seconds() <= 2 * poll_interval:
        return PanelStatus("live", last_success, next_due)
    return PanelStatus("delayed", last_success, next_due)


def tab_title(report_title: str, new: int = 0) -> str:
    """The report page's browser tab: the report's title, led by the viewer's new-entry count."""
    return f"({new}) {report_title}" if new else report_title


def relative_time(then: datetime, now: datetime, lang: str = "zh") -> str:
    seconds = int((now - then).total_seconds())
    if seconds < 0:
        ahead = -seconds
        if ahead < 60:
            return t("in_seconds", lang, n=ahead)
        return t("in_minutes", lang, n=ahead // 60)
    if seconds < 10:
        return t("just_now", lang)
    if seconds < 60:
        return t("seconds_ago", lang, n=seconds)
    if seconds < 3600:
        return t("minutes_ago", lang, n=seconds // 60)
    if seconds < 86400:
        return t("hours_ago", lang, n=seconds // 3600)
    return t("days_ago", lang, n=seconds // 86400)


def local_time(value: datetime, tz: str, with_date: bool = True) -> str:
    local = value.astimezone(ZoneInfo(tz))
    return local.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


def parse_baseline(value: str | None, now: datetime | None = None) -> datetime | None:
    """The viewer's 'seen up to' time from the URL (`seen=<unix seconds>`), or None when it is
    out of range: not plain decimal seconds (ASCII digits, at most 6 decimals), or later than
    now + CLOCK_SLACK (a baseline in the future would hide every new entry until then)."""
    if not isinstance(value, str) or not _SECONDS.fullmatch(value):
        return None
    seen = datetime.fromtimestamp(float(value), UTC)  # 11 digits: within datetime
    return None if seen > (now or datetime.now(UTC)) + CLOCK_SLACK else seen


def format_baseline(value: datetime) -> str:
    return f"{value.timestamp():.3f}"
