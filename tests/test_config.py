"""Configuration: the shipped file is valid; every mistake is named with its key path and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reportwatch.config.settings import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str, name: str = "sources.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [str(p) for p in info.value.problems]


def test_shipped_config_is_valid_and_lists_huxiu_first() -> None:
    loaded = load_config(ROOT / "sources.yaml")
    config = loaded.config
    assert config.sources[0].url == "https://www.huxiu.com/rss/0.xml"
    assert any("rsshub" in s.url and "/huxiu/article" in s.url for s in config.sources)
    assert any("/huxiu/channel/" in s.url for s in config.sources)
    names = " ".join(s.name for s in config.sources)
    for outlet in ("36氪", "爱范儿", "IT之家", "钛媒体"):
        assert outlet in names
    rules = config.rules()
    assert "tencent" in [k.lower() for k in rules["腾讯"].any_ + rules["腾讯"].title_only]
    assert config.timezone == "Asia/Shanghai"
    assert loaded.reports_path == (ROOT / "reports").resolve()


def test_missing_url_and_negative_interval_are_both_named(tmp_path: Path) -> None:
    path = write(tmp_path, "poll_interval: -5\nsources:\n  - name: 虎嗅\n")
    found = problems(path)
    assert any(p.startswith("poll_interval (line 1)") and "greater than or equal to 5" in p
               for p in found)  # fmt: skip
    assert any(p.startswith("sources[0].url (line 3)") and "missing" in p for p in found)


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    text = (
        "poll_interval: 3\n"
        "timezone: 火星/基地\n"
        "fetch:\n  per_host: 0\n"
        "sources:\n"
        "  - name: 钛媒体\n    url: ftp://example.com/rss\n    colour: red\n"
        "tags:\n  腾讯: {any: Tencent}\n"
    )
    found = problems(write(tmp_path, text))
    joined = "\n".join(found)
    assert "poll_interval (line 1)" in joined
    assert "unknown timezone '火星/基地'" in joined
    assert "fetch.per_host (line 4)" in joined
    assert "sources[0].url (line 7)" in joined and "http://, https:// or file:" in joined
    assert "sources[0].colour (line 8): unknown key" in joined
    assert "tags.腾讯.any" in joined
    assert len(found) == 6


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  - name: 虎嗅\n    url: [unclosed\n")
    (found,) = problems(path)
    assert "not valid YAML" in found and "line" in found


def test_duplicate_source_names_are_rejected(tmp_path: Path) -> None:
    text = "sources:\n  - {name: 虎嗅, url: https://a.example/rss}\n  - {name: 虎嗅, url: https://b.example/rss}\n"
    (found,) = problems(write(tmp_path, text))
    assert "'虎嗅' is used twice" in found


def test_empty_rule_and_relative_paths(tmp_path: Path) -> None:
    text = (
        "database_url: sqlite:///data/rw.db\n"
        "sources:\n  - {name: 本地, url: 'file:feeds/a.xml'}\n"
        "tags:\n  超级应用: {}\n  电商困境:\n"
    )
    loaded = load_config(write(tmp_path, text))
    assert loaded.config.rules()["超级应用"].any_ == []
    assert loaded.config.rules()["电商困境"].any_ == []
    assert loaded.config.database_url == f"sqlite:///{tmp_path.resolve()}/data/rw.db"
    assert loaded.config.sources[0].url == (tmp_path / "feeds/a.xml").resolve().as_uri()


def test_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "sources: []\n", "other.yaml")
    monkeypatch.setenv("REPORTWATCH_CONFIG", str(path))
    monkeypatch.setenv("REPORTWATCH_DATABASE_URL", "sqlite:////tmp/override.db")
    loaded = load_config()
    assert loaded.path == path.resolve()
    assert loaded.config.database_url == "sqlite:////tmp/override.db"


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    assert problems(tmp_path / "nope.yaml") == ["(file): file not found"]
    bad = tmp_path / "gbk.yaml"
    bad.write_bytes("sources: []\n# 腾讯\n".encode("gbk"))
    (found,) = problems(bad)
    assert "not UTF-8" in found


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reportwatch.cli", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_check_config_cli_exit_codes(tmp_path: Path) -> None:
    ok = run_cli("check-config", "sources.yaml")
    assert ok.returncode == 0, ok.stderr
    bad = write(tmp_path, "poll_interval: -5\nsources:\n  - name: 虎嗅\n")
    result = run_cli("check-config", str(bad))
    assert result.returncode == 2
    assert "poll_interval" in result.stderr and "sources[0].url" in result.stderr
    assert "Traceback" not in result.stderr
