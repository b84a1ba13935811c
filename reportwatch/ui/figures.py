"""Plotly figure builders: plain functions from DataFrames (see reportwatch.store.analysis).

No Streamlit here, so they are unit-tested directly. Names from the configuration or OPML
imports become legend and axis labels; plotly reads a few HTML tags in labels (<a href>, <b>),
so labels are escaped first.
"""

from __future__ import annotations

import html
from typing import Literal

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

Freq = Literal["day", "hour"]
_PANDAS_FREQ = {"day": "D", "hour": "h"}


def label(text: object) -> str:
    """Text that plotly shows literally."""
    return html.escape(str(text), quote=False)


def wide(df: pd.DataFrame, name: str, freq: Freq) -> pd.DataFrame:
    """bucket × name counts, with zero rows for buckets in between (stacks and lines stay true)."""
    if df.empty:
        return pd.DataFrame()
    table = df.pivot_table(index="bucket", columns=name, values="count", aggfunc="sum")
    full = pd.date_range(table.index.min(), table.index.max(), freq=_PANDAS_FREQ[freq])
    table = table.reindex(full, fill_value=0).fillna(0).astype(int)
    order = table.sum().sort_values(ascending=False).index  # biggest series first in the legend
    return table[order]


def _x(table: pd.DataFrame, freq: Freq) -> list[str] | pd.Index:
    """Days as category labels (one tick a day, no midnight hours); hours on a time axis."""
    return [d.strftime("%Y-%m-%d") for d in table.index] if freq == "day" else table.index


def _layout(fig: go.Figure, title: str, y_title: str, freq: Freq) -> go.Figure:
    fig.update_layout(
        title=label(title),
        hovermode="x unified",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
    )
    fig.update_yaxes(title_text=label(y_title), rangemode="tozero")
    if freq == "day":
        fig.update_xaxes(type="category")  # plotly would read "2025-11-20" as a date again
    return fig


def tag_timeline(
    df: pd.DataFrame, freq: Freq = "day", stacked: bool = False, title: str = "",
    y_title: str = "",
) -> go.Figure:  # fmt: skip
    """Matches per tag over time: one line per tag, or stacked areas."""
    fig = go.Figure()
    table = wide(df, "tag", freq)
    for tag in table.columns:
        fig.add_trace(
            go.Scatter(
                x=_x(table, freq), y=table[tag], name=label(tag),
                mode="lines" if stacked else "lines+markers",
                stackgroup="one" if stacked else None,
            )
        )  # fmt: skip
    return _layout(fig, title, y_title, freq)


def source_bars(
    df: pd.DataFrame, freq: Freq = "day", title: str = "", y_title: str = ""
) -> go.Figure:
    """Matched entries per source over time, as stacked bars."""
    fig = go.Figure()
    table = wide(df, "source", freq)
    for source in table.columns:
        fig.add_trace(go.Bar(x=_x(table, freq), y=table[source], name=label(source)))
    fig.update_layout(barmode="stack")
    return _layout(fig, title, y_title, freq)


def tag_heatmap(df: pd.DataFrame, title: str = "") -> go.Figure:
    """Tags (rows) × days (columns), coloured by matches."""
    fig = go.Figure()
    table = wide(df, "tag", "day")
    if not table.empty:
        fig.add_trace(
            go.Heatmap(
                z=table.T.values, x=[d.strftime("%Y-%m-%d") for d in table.index],
                y=[label(tag) for tag in table.columns], colorscale="Blues",
                hovertemplate="%{y} · %{x}: %{z}<extra></extra>",
            )
        )  # fmt: skip
    fig.update_layout(title=label(title), margin={"l": 10, "r": 10, "t": 60, "b": 10})
    fig.update_xaxes(type="category")
    fig.update_yaxes(autorange="reversed")  # the biggest tag on top
    return fig


def run_history(df: pd.DataFrame, titles: tuple[str, str, str] = ("", "", "")) -> go.Figure:
    """Poll cycles: duration, new entries and errors, sharing one time axis."""
    fig = make_subplots(
        rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
        subplot_titles=[label(x) for x in titles],
    )  # fmt: skip
    if not df.empty:
        duration = go.Scatter(
            x=df["started"], y=df["duration"], name=label(titles[0]), mode="lines+markers"
        )
        fig.add_trace(duration, row=1, col=1)
        fig.add_trace(
            go.Bar(x=df["started"], y=df["new_entries"], name=label(titles[1])), row=2, col=1
        )
        fig.add_trace(
            go.Bar(x=df["started"], y=df["errors"], name=label(titles[2]), marker_color="#d93025"),
            row=3, col=1,
        )  # fmt: skip
    fig.update_layout(showlegend=False, height=520, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    fig.update_yaxes(rangemode="tozero")
    return fig
