"""Entry point: `streamlit run dashboard.py`. Sets up the page and hands over to the pages."""

import streamlit as st

from reportwatch.ui.app import current_config, language
from reportwatch.ui.i18n import t
from reportwatch.ui.sidebar import carry_params, remember_params

st.set_page_config(page_title="reportwatch", page_icon="🔎", layout="wide")

lang = language()
loaded, _ = current_config()
pages = [
    st.Page("pages/report.py", title=t("page_report", lang), icon="📰", default=True),
    st.Page("pages/explorer.py", title=t("page_explorer", lang), url_path="explorer", icon="🔎"),
    st.Page("pages/trends.py", title=t("page_trends", lang), url_path="trends", icon="📈"),
    st.Page("pages/sources.py", title=t("page_sources", lang), url_path="sources", icon="📡"),
]
page = st.navigation(pages)
carry_params(page.url_path)  # report, tag and seen follow the viewer from page to page
try:
    page.run()
finally:
    remember_params()
