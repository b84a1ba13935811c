"""The report page under Streamlit's AppTest: every part of the report, picker, bad inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import ROOT, write_config

# AppTest runs the app in this process: no embedded poller, nothing reaches the internet.
pytestmark = pytest.mark.usefixtures("offline_app")


def run_app(config: Path, monkeypatch: pytest.MonkeyPatch, **params: str | list[str]) -> AppTest:
    monkeypatch.setenv("REPORTWATCH_CONFIG", str(config))
    app = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=30)
    for key, value in params.items():
        app.query_params[key] = value
    return app.run()


def page_text(app: AppTest) -> str:
    parts = [e.value for e in app.markdown] + [e.value for e in app.title]
    parts += [e.value for e in app.header] + [e.value for e in app.subheader]
    parts += [e.value for e in app.caption] + [e.value for e in app.info]
    parts += [e.value for e in app.warning] + [e.value for e in app.success]
    parts += [e.value for e in app.error] + [e.label for e in app.expander]
    return "\n".join(str(p) for p in parts)


def test_report_page_shows_every_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = run_app(write_config(tmp_path, []), monkeypatch)
    assert not app.exception
    text = page_text(app)
    assert app.title[0].value == "微信电商突围:超级应用能否打破电商困局?"
    for part in ("深度调查", "李明", "已验证调查", "2025-07-30", "调查摘要", "TL;DR",
                 "微信电商的优势分析", "视频号电商的崛起", "微信电商的突围之路", "未来展望",
                 "常见问题解答", "调查方法", "更新说明", "Get笔记"):  # fmt: skip
        assert part in text, part
    for tag in ("微信电商", "视频号电商", "腾讯", "电商运营", "代理人战争", "内部整合",
                "电商困境", "超级应用"):  # fmt: skip
        assert f"#{tag}" in text
    faq = [e.label for e in app.expander]
    assert "微信电商未来的发展方向是什么?" in faq
    assert "视频号电商在微信电商中扮演什么角色?" in faq


def test_panel_is_honest_before_any_poll(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = write_config(tmp_path, [{"name": "本地", "url": "http://127.0.0.1:9/feed.xml"}])
    app = run_app(config, monkeypatch)
    text = page_text(app)
    assert "实时监测中" in text and "最后更新: —" in text
    assert "尚未轮询" in text
    assert "运行中" not in text  # never "live" because the page rendered


def test_picker_and_report_parameter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reports = tmp_path / "reports"
    shutil.copytree(ROOT / "reports", reports)
    (reports / "second.md").write_text(
        "---\ntitle: 第二份报告\nkind: 快讯\nauthor: 王芳\ntags: [腾讯]\nsummary: 摘要。\n"
        "---\n\n## 正文\n\n内容。\n",
        encoding="utf-8",
    )
    config = write_config(tmp_path, [], reports_dir="reports")
    app = run_app(config, monkeypatch, report="second")
    assert app.title[0].value == "第二份报告"
    picker = app.sidebar.selectbox[0]
    assert sorted(picker.options) == sorted(
        ["微信电商突围:超级应用能否打破电商困局?", "第二份报告"]
    )
    picker.set_value("wechat-ecommerce").run()
    assert app.title[0].value.startswith("微信电商突围")
    assert app.query_params["report"] == "wechat-ecommerce"


def test_bad_report_is_named_and_others_still_show(tmp_path: Path, monkeypatch):
    reports = tmp_path / "reports"
    shutil.copytree(ROOT / "reports", reports)
    (reports / "broken.md").write_text("---\ntitle: 坏报告\nverified: 昨天\n---\n", "utf-8")
    app = run_app(write_config(tmp_path, [], reports_dir="reports"), monkeypatch)
    assert not app.exception
    errors = "\n".join(e.value for e in app.error)
    assert "broken.md" in errors and "verified" in errors
    assert app.title[0].value.startswith("微信电商突围")


def test_bad_config_is_a_banner_not_a_crash(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "sources.yaml"
    config.write_text("poll_interval: -5\nsources:\n  - name: 虎嗅\n", encoding="utf-8")
    app = run_app(config, monkeypatch)
    assert not app.exception
    banner = "\n".join(e.value for e in app.error)
    assert "配置文件有错误" in banner
    assert "poll_interval" in banner and "sources[0].url" in banner


def test_demo_config_shows_the_demo_marker(monkeypatch: pytest.MonkeyPatch) -> None:
    app = run_app(ROOT / "demo" / "sources.yaml", monkeypatch)
    assert not app.exception
    assert any("演示数据" in w.value for w in app.warning)


def test_english_switch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = run_app(write_config(tmp_path, []), monkeypatch)
    app.sidebar.radio[0].set_value("en").run()
    text = page_text(app)
    assert "Live monitoring" in text and "Summary" in text
    assert app.title[0].value.startswith("微信电商突围")  # the report keeps its own language
