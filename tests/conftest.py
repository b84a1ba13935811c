"""Shared fixtures. Keep this small; helpers live in their own modules (tests/feedserver.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The project is not installed into the venv: make `reportwatch` and `tests.*` importable.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.feedserver import FeedServer  # noqa: E402


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A started local FeedServer on 127.0.0.1, stopped after the test."""
    server = FeedServer().start()
    try:
        yield server
    finally:
        server.stop()
