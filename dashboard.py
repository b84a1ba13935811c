"""Entry point: `streamlit run dashboard.py`. Sets up the page and hands over to the pages."""

import streamlit as st

from reportwatch.app import current_config, language
from reportwatch.i18n import t

st.set_page_config(page_title="reportwatch", page_icon="🔎", layout="wide")

lang = language()
loaded, _ = current_config()
pages = [st.Page("pages/report.py", title=t("page_report", lang), icon="📰", default=True)]
st.navigation(pages).run()
