"""Configuration and report mistakes: each kind gets a message naming the file, line and key;
the running app keeps the last good configuration when the file turns bad, and says so."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from reportwatch.config.settings import ConfigError, load_config
from tests.helpers import ROOT, write_config

GOOD_SOURCE = "sources:\n  - {name: 虎嗅, url: 'https://www.huxiu.com/rss/0.xml'}\n"

# (config text, key path, line, words the message must contain)
MISTAKES = [
    ("poll_intervall: 60\n", "poll_intervall", 1, "unknown key"),
    ("poll_interval: 60\npoll_interval: 90\n", "poll_interval", 2, "appears twice (lines 1 and 2)"),
    ("poll_interval: 2\n", "poll_interval", 1, "greater than or equal to 5"),
    ("poll_interval: often\n", "poll_interval", 1, "valid integer"),
    ("sources: 虎嗅\n", "sources", 1, "valid list, got '虎嗅'"),
    ("sources:\n  - https://a.example/rss\n", "sources[0]", 2, "valid dictionary"),
    ("sources:\n  - {name: a}\n", "sources[0].url", 2, "required but missing"),
    ("sources:\n  - {name: a, url: 'ftp://a.example/'}\n", "sources[0].url", 2, "http://"),
    ("sources:\n  - {name: a, url: 'https:///x'}\n", "sources[0].url", 2, "no host name"),
    ("sources:\n  - {name: a, url: 'http://[::1'}\n", "sources[0].url", 2, "not a valid URL"),
    (GOOD_SOURCE + "  - {name: 虎嗅, url: 'https://b.example/'}\n", "sources[1].name", 3,
     "'虎嗅' is used twice (also sources[0])"),
    ("sources:\n  - name: a\n    url: 'https://a.example/'\n    name: b\n", "sources[0].name", 4,
     "appears twice"),
    ("sources:\n  - {name: a, url: 'https://a.example/', interval: 1}\n", "sources[0].interval", 2,
     "greater than or equal to 5"),
    ("sources:\n  - {name: a, url: 'https://a.example/', enabled: maybe}\n", "sources[0].enabled",
     2, "valid boolean"),
    ("sources:\n  - {name: a, url: 'https://a.example/', encoding: gbkk}\n",
     "sources[0].encoding", 2, "unknown encoding 'gbkk'"),
    ("sources:\n  - {name: a, url: 'https://a.example/', timezone: Mars/Base}\n",
     "sources[0].timezone", 2, "unknown timezone"),
    ("sources:\n  - {name: a, url: 'https://a.example/', colour: red}\n", "sources[0].colour", 2,
     "unknown key"),
    ("sources:\n  - {name: '" + "源" * 201 + "', url: 'https://a.example/'}\n",
     "sources[0].name", 2, "longer than 200 characters"),
    ('sources:\n  - {name: "a\\0b", url: "https://a.example/"}\n', "sources[0].name", 2,
     "control character"),
    ("tags:\n  " + "长" * 201 + ": {}\n", "tags", 1, "longer than 200 characters"),
    ('tags:\n  "腾\\x07讯": {}\n', "tags", 1, "control character"),
    ("tags: [腾讯, 微信]\n", "tags", 1, "valid dictionary, got a list"),
    ("tags:\n  腾讯: Tencent\n", "tags.腾讯", 2, "valid dictionary, got 'Tencent'"),
    ("tags:\n  腾讯: {anny: [Tencent]}\n", "tags.腾讯.anny", 2, "unknown key"),
    ("tags:\n  腾讯: {any: Tencent}\n", "tags.腾讯.any", 2, "valid list"),
    ("tags:\n  腾讯: {}\n  腾讯: {any: [x]}\n", "tags.腾讯", 3, "appears twice"),
    ("timezone: Asia/Shanghia\n", "timezone", 1, "unknown timezone 'Asia/Shanghia'"),
    ("language: fr\n", "language", 1, "'zh' or 'en'"),
    ("ui_refresh: 0\n", "ui_refresh", 1, "greater than or equal to 1"),
    ("retention_days: -1\n", "retention_days", 1, "greater than or equal to 1"),
    ("embedded_poller: sometimes\n", "embedded_poller", 1, "valid boolean"),
    ("fetch:\n  timeout: 0\n", "fetch.timeout", 2, "greater than 0"),
    ("fetch:\n  max_bytes: 10\n", "fetch.max_bytes", 2, "greater than or equal to 1024"),
    ("fetch:\n  retries: 3\n", "fetch.retries", 2, "unknown key"),
    ("database_url: postgres://u@h/db\n", "database_url", 1, "postgresql://"),
    ("database_url: mysql://u@h/db\n", "database_url", 1, "only SQLite and PostgreSQL"),
    ("database_url: not a url\n", "database_url", 1, "not a database URL"),
    ("- a\n- b\n", "", 1, "mapping of settings at the top level"),
    ("sources:\n\t- name: a\n", "", 2, "not valid YAML"),
    ("sources: [unclosed\n", "", 2, "not valid YAML"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "where", "line", "words"), MISTAKES)
def test_each_config_mistake_is_named(
    tmp_path: Path, text: str, where: str, line: int | None, words: str
) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)  # the file
    found = [p for p in info.value.problems if words in p.message]
    assert found, [str(p) for p in info.value.problems]
    assert found[0].location == where and found[0].line == line, str(found[0])


def test_bad_database_url_in_the_environment_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPORTWATCH_DATABASE_URL", "postgres://u@h/db")
    path = tmp_path / "sources.yaml"
    path.write_text(GOOD_SOURCE, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert problem.location == "$REPORTWATCH_DATABASE_URL" and "postgresql://" in problem.message


def test_unreadable_config_files(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder.yaml"
    folder.mkdir()
    with pytest.raises(ConfigError) as info:
        load_config(folder)
    assert "cannot read the file" in str(info.value) and str(folder) in str(info.value)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\x00\x01sources: []\n")
    with pytest.raises(ConfigError) as info:
        load_config(binary)
    assert "not valid YAML" in str(info.value)


def shown(app: AppTest) -> str:
    parts = [*app.title, *app.subheader, *app.markdown, *app.error, *app.warning, *app.info]
    return "\n".join(str(p.value) for p in parts)


def test_app_keeps_the_last_good_config_when_the_file_turns_bad(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_app: None
) -> None:
    config = write_config(tmp_path, [{"name": "本地", "url": "http://127.0.0.1:9/feed.xml"}])
    monkeypatch.setenv("REPORTWATCH_CONFIG", str(config))
    app = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
    assert not app.exception
    assert "微信电商突围" in shown(app) and "仍在使用上一次有效的配置" not in shown(app)

    config.write_text("poll_interval: 1\nsources: [unclosed\n", encoding="utf-8")
    stat = config.stat()
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a later edit
    app.run()
    assert not app.exception
    text = shown(app)
    assert "仍在使用上一次有效的配置" in text  # says so
    assert "not valid YAML" in text and "(line 3)" in text  # and what is wrong, where
    assert "微信电商突围" in text and "实时监测中" in text  # and keeps serving the report

    config.write_text("poll_interval: 1\n", encoding="utf-8")  # valid YAML, invalid value
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    app.run()
    text = shown(app)
    assert "仍在使用上一次有效的配置" in text and "poll_interval (line 1)" in text
    assert "微信电商突围" in text


def test_app_with_a_bad_config_from_the_start_says_what_is_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_app: None
) -> None:
    config = tmp_path / "sources.yaml"
    config.write_text("sources:\n  - {name: a, url: 'ftp://a.example/'}\n", encoding="utf-8")
    monkeypatch.setenv("REPORTWATCH_CONFIG", str(config))
    for page in ("dashboard.py", "pages/explorer.py", "pages/trends.py", "pages/sources.py"):
        app = AppTest.from_file(str(ROOT / page), default_timeout=60).run()
        assert not app.exception, page
        text = shown(app)
        assert "配置文件有错误" in text and "sources[0].url (line 2)" in text, page


def test_a_broken_report_is_named_and_the_good_one_still_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_app: None
) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    shutil.copy(ROOT / "reports" / "wechat-ecommerce.md", reports / "a-wechat.md")
    (reports / "b-broken.md").write_text(
        "---\ntitle: 坏报告\nkind: 调查\nauthor: 某人\ntags: [腾讯]\nsummary: 摘要\n"
        "verified: 昨天\n---\n正文\n",
        encoding="utf-8",
    )
    config = write_config(tmp_path, [], reports_dir=str(reports))
    monkeypatch.setenv("REPORTWATCH_CONFIG", str(config))
    app = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
    assert not app.exception
    text = shown(app)
    assert "b-broken.md" in text and "verified" in text and "2025-07-30" in text
    assert "微信电商突围" in text


def test_sqlite_uri_form_resolves_against_the_config_folder(tmp_path: Path) -> None:
    """The read-only form (README): relative paths inside it resolve like plain SQLite paths."""
    path = tmp_path / "sources.yaml"
    path.write_text('database_url: "sqlite:///file:data/x.db?mode=ro&uri=true"\n', "utf-8")
    url = load_config(path).config.database_url
    assert url == f"sqlite:///file:{tmp_path.resolve()}/data/x.db?mode=ro&uri=true"
