"""The report beside its live monitoring panel."""

import streamlit as st

from reportwatch.ui.app import current_config, get_reports, language, name_page, show_problems
from reportwatch.ui.i18n import t
from reportwatch.ui.views import render_panel, render_report, report_freshness, report_picker

lang = language()
name_page("report", lang)  # the report's title once one is picked
loaded, config_error = current_config()
show_problems(loaded, config_error, lang)
if loaded is None:
    st.stop()

reports = get_reports(loaded)
if reports.errors:
    st.error(t("report_errors", lang) + "\n\n" + "\n".join(f"- `{e}`" for e in reports.errors))
report = report_picker(reports.reports, lang)
if report is None:
    st.info(t("no_reports", lang))
    st.stop()

left, right = st.columns([3, 2], gap="large")
with left:
    render_report(report, lang, report_freshness(loaded, report))
with right:
    render_panel(loaded, report, lang)
