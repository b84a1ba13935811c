"""PostgreSQL trouble reaches the analyst as a sentence, never with the database password."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import cli, dashboard_text, write_config
from tests.pgserver import PostgresServer, free_port


def test_a_missing_database_is_a_clear_cli_error_without_the_password(
    postgres: PostgresServer, tmp_path: Path
):
    url = postgres.url("no_such_db").replace("reportwatch@", "reportwatch:s3cret@")
    config = write_config(tmp_path, [], database_url=url)
    for command in (("poll", "--once"), ("items",), ("sources",)):
        result = cli(*command, config=config)
        assert result.returncode == 3, result.stderr
        assert "database does not exist" in result.stderr and "no_such_db" in result.stderr
        assert "s3cret" not in result.stderr and "Traceback" not in result.stderr


def test_an_unreachable_server_is_a_clear_cli_error(tmp_path: Path):
    url = f"postgresql://analyst:s3cret@127.0.0.1:{free_port()}/reportwatch"
    config = write_config(tmp_path, [], database_url=url)
    result = cli("poll", "--once", config=config)
    assert result.returncode == 3
    assert "cannot reach the database server" in result.stderr
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr


def test_the_page_stays_usable_when_the_database_server_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_app: None
):
    url = f"postgresql://analyst:s3cret@127.0.0.1:{free_port()}/reportwatch"
    shown = dashboard_text(write_config(tmp_path, [], database_url=url), monkeypatch)
    assert "微信电商突围" in shown  # the report itself still reads
    assert "数据库不可用" in shown and "cannot reach the database server" in shown
    assert "s3cret" not in shown
