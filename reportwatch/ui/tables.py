"""Tables the pages show: the sources' health as a DataFrame with its icons, labels and colours.
The numbers come from the store (store.queries.source_health); this is only how they look."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from reportwatch.store.queries import SourceHealth
from reportwatch.ui.i18n import t

STATUS_ICON = {"ok": "🟢", "not_modified": "🔵", "error": "🔴", "never_checked": "⚪"}
STATUS_COLOUR = {
    "ok": "background-color: #e6f4ea",
    "not_modified": "background-color: #e8f0fe",
    "error": "background-color: #fce8e6",
    "never_checked": "background-color: #f1f3f4",
}
HEALTH_COLUMNS = ["name", "status", "last_checked", "last_ok", "latency", "bytes", "entries",
                  "error", "next_due", "failures", "url", "state"]  # fmt: skip


def health_frame(health: Sequence[SourceHealth], tz: str, lang: str) -> pd.DataFrame:
    """One row a source; `state` is the raw status, for colouring. No text cell is None (an
    empty error is ""); times and numbers never measured are NaT/NaN, shown as app.MISSING."""
    zone = ZoneInfo(tz)
    local = lambda v: v.astimezone(zone) if v else None  # noqa: E731
    data = []
    for s in health:
        state = s.status or "never_checked"
        label = f"{STATUS_ICON.get(state, '')} {t('status_' + state, lang)}"
        if not s.enabled:
            label += f" ({t('disabled', lang)})"
        data.append(
            {
                "name": s.name, "status": label, "last_checked": local(s.last_checked),
                "last_ok": local(s.last_ok), "latency": s.latency, "bytes": s.bytes,
                "entries": s.entries, "error": s.error or "", "next_due": local(s.next_due),
                "failures": s.failures, "url": s.url, "state": state,
            }
        )  # fmt: skip
    df = pd.DataFrame(data, columns=HEALTH_COLUMNS)
    for name in ("last_checked", "last_ok", "next_due"):
        df[name] = pd.to_datetime(df[name], utc=True).dt.tz_convert(zone)
    return df


def health_style(df: pd.DataFrame) -> Any:
    """A Styler: the status cell coloured by state, repeated failures in red."""
    states = df["state"]

    def by_state(column: pd.Series) -> list[str]:
        return [STATUS_COLOUR.get(states[i], "") for i in column.index]

    def by_failures(column: pd.Series) -> list[str]:
        return ["color: #c5221f; font-weight: bold" if (v or 0) > 0 else "" for v in column]

    shown = df.drop(columns=["state"])
    return shown.style.apply(by_state, subset=["status"]).apply(by_failures, subset=["failures"])


CHANNEL_COLUMNS = ["name", "kind", "started", "last_sent", "pending", "failing", "last_error",
                   "last_error_at"]  # fmt: skip


def channels_frame(statuses: Sequence[Any], kinds: dict[str, str], tz: str) -> pd.DataFrame:
    """One row an alert channel (never its URL: only the kind of URL)."""
    zone = ZoneInfo(tz)
    data = [
        {"name": s.name, "kind": kinds.get(s.name, ""), "started": s.since,
         "last_sent": s.last_sent, "pending": s.pending, "failing": s.failing,
         "last_error": s.last_error or "", "last_error_at": s.last_error_at}
        for s in statuses
    ]  # fmt: skip
    df = pd.DataFrame(data, columns=CHANNEL_COLUMNS)
    for name in ("started", "last_sent", "last_error_at"):
        df[name] = pd.to_datetime(df[name], utc=True).dt.tz_convert(zone)
    return df
