"""Secure defaults (issue 15, item 3): the app binds to localhost, caps uploads, keeps XSRF
protection on. Read from the shipped .streamlit/config.toml, and as Streamlit itself resolves it."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from reportwatch.config.opml import MAX_BYTES as OPML_MAX_BYTES
from tests.helpers import ROOT

CONFIG = ROOT / ".streamlit" / "config.toml"


def test_config_toml_binds_to_localhost_caps_uploads_keeps_xsrf() -> None:
    server = tomllib.loads(CONFIG.read_text(encoding="utf-8"))["server"]
    assert server["address"] == "127.0.0.1"
    assert server["enableXsrfProtection"] is True
    # Streamlit's MB are MiB (size * 1024 * 1024): at least the OPML cap, at most 10.
    assert OPML_MAX_BYTES <= server["maxUploadSize"] * 1024 * 1024
    assert server["maxUploadSize"] <= 10


def test_streamlit_reads_the_same_settings() -> None:
    """`streamlit config show` in the repo root: the options are spelled as Streamlit knows them."""
    shown = subprocess.run(
        [sys.executable, "-m", "streamlit", "config", "show"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    lines = {line.strip() for line in shown.splitlines()}
    assert 'address = "127.0.0.1"' in lines
    assert "maxUploadSize = 10" in lines
    assert "enableXsrfProtection = true" in lines
