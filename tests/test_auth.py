"""Viewers and editors (issue 15): `reportwatch editor add`, the editors config, the sign-in
form with its rate limit and expiry, and the gates on adding sources, OPML import and 立即刷新."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from reportwatch.config.editors import add_editor, hash_password
from reportwatch.config.settings import ConfigError, EditorsConfig, load_config, parse_config
from reportwatch.ui import auth
from reportwatch.ui.auth import FailureLog, sign_in, signed_in
from tests.feedserver import FeedServer, rss
from tests.helpers import ROOT, SHOP, TENCENT, cli, write_config

PASSWORD = "correct horse battery"
EDITOR = "王编辑"


def editor_add(config: Path, name: str, password: str) -> subprocess.CompletedProcess[str]:
    """The real `reportwatch editor add NAME`, the password on stdin (not a TTY)."""
    return subprocess.run(
        [sys.executable, "-m", "reportwatch.cli", "editor", "add", name, "--config", str(config)],
        input=password + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def sign_in_form(app: AppTest, name: str, password: str) -> AppTest:
    """Fill the sidebar's sign-in form and submit it."""
    app.text_input(key="signin_name").set_value(name)
    app.text_input(key="signin_password").set_value(password)
    next(b for b in app.sidebar.button if b.label in ("登录", "Sign in")).click()
    return app.run()


def as_editor(app: AppTest, config: Path) -> AppTest:
    """Sign this AppTest session in as an editor (adding the account to `config` if needed).
    For tests of editor-only controls."""
    if EDITOR not in {a.name for a in load_config(config).config.editors.accounts}:
        add_editor(config, EDITOR, PASSWORD)
        app.run()
    app = sign_in_form(app, EDITOR, PASSWORD)
    assert any(EDITOR in c.value for c in app.sidebar.caption), "not signed in"
    return app


def shown(app: AppTest) -> str:
    parts = [*app.info, *app.caption, *app.warning, *app.error, *app.success, *app.markdown]
    return "\n".join(str(e.value) for e in parts)


def keys(app: AppTest, kind: str) -> set[str]:
    return {w.key for w in getattr(app, kind) if w.key}


# -- the command and the config -------------------------------------------------------------


COMMENTED = """\
# 我们团队的配置
database_url: sqlite:///reportwatch.db   # 本地文件
sources:
  - name: 虎嗅   # 第一个来源
    url: https://www.huxiu.com/rss/0.xml
# 标签规则
tags:
  腾讯: {}
"""


def test_editor_add_writes_an_argon2_hash_keeps_comments_and_validates(tmp_path: Path) -> None:
    config = tmp_path / "sources.yaml"
    config.write_text(COMMENTED, encoding="utf-8")
    done = editor_add(config, "alice", PASSWORD)
    assert done.returncode == 0, done.stderr
    text = config.read_text(encoding="utf-8")
    assert text.startswith(COMMENTED)  # every byte of the file as it was, the account after
    assert PASSWORD not in text and "correct" not in text
    data = yaml.safe_load(text)
    [account] = data["editors"]["accounts"]
    assert account["name"] == "alice" and account["password_hash"].startswith("$argon2id$")
    assert account["password_hash"] not in done.stdout + done.stderr  # never printed
    checked = cli("check-config", str(config))
    assert checked.returncode == 0, checked.stderr

    # A second editor, then a new password for the first: one account each, comments kept.
    assert editor_add(config, "bob", "another password").returncode == 0
    assert editor_add(config, "Alice", "a new password!").returncode == 0
    text = config.read_text(encoding="utf-8")
    for comment in ("# 我们团队的配置", "# 本地文件", "# 第一个来源", "# 标签规则"):
        assert comment in text
    accounts = load_config(config).config.editors.accounts
    assert [a.name for a in accounts] == ["Alice", "bob"]
    assert accounts[0].password_hash.get_secret_value() != account["password_hash"]
    assert cli("check-config", str(config)).returncode == 0


def test_editor_add_refuses_a_short_password_and_a_bad_name(tmp_path: Path) -> None:
    config = tmp_path / "sources.yaml"
    config.write_text(COMMENTED, encoding="utf-8")
    short = editor_add(config, "alice", "short")
    assert short.returncode == 2 and "at least 8" in short.stderr
    blank = editor_add(config, " ", PASSWORD)
    assert blank.returncode == 2 and "editor name" in blank.stderr
    assert config.read_text(encoding="utf-8") == COMMENTED


def test_config_refuses_a_plain_password_without_printing_it(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, [], editors={"accounts": [{"name": "a", "password_hash": "hunter2hunter2"}]}
    )
    done = cli("check-config", str(config))
    assert done.returncode == 2
    assert "editors.accounts[0].password_hash" in done.stderr and "argon2" in done.stderr
    assert "hunter2" not in done.stderr
    bad = {"emails": ["not-an-email"], "domains": ["@x"], "accounts": [], "extra": 1}
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump({"editors": bad}), config)
    where = {p.location for p in caught.value.problems}
    assert {"editors.emails", "editors.domains", "editors.extra"} <= where


def test_hashes_stay_out_of_reprs(tmp_path: Path) -> None:
    config = write_config(tmp_path, [])
    add_editor(config, "alice", PASSWORD)
    loaded = load_config(config)
    stored = loaded.config.editors.accounts[0].password_hash.get_secret_value()
    assert stored not in repr(loaded) and stored not in str(loaded.config.model_dump())


# -- the decisions, with an injected clock --------------------------------------------------


@pytest.fixture
def editors(tmp_path: Path) -> EditorsConfig:
    config = write_config(tmp_path, [])
    add_editor(config, "alice", PASSWORD)
    return load_config(config).config.editors


def test_sign_in_and_session_expiry(editors: EditorsConfig) -> None:
    state: dict[str, object] = {}
    names = FailureLog()
    start = 1_000_000.0
    assert sign_in(editors, "nobody", PASSWORD, state, start, names).editor is None
    assert sign_in(editors, "alice", "wrong password", state, start, names).editor is None
    result = sign_in(editors, " ALICE ", PASSWORD, state, start, names)
    assert result.editor is not None and result.editor.name == "alice"
    assert result.editor.via == "password" and result.editor.expires == start + 8 * 3600
    assert signed_in(editors, state, start + 8 * 3600 - 1) == result.editor
    assert signed_in(editors, state, start + 8 * 3600) is None  # expired: signed out
    assert auth.SESSION_KEY not in state and state[auth.NOTICE_KEY] == "session_expired"
    # An account removed from the file ends its sessions at once.
    sign_in(editors, "alice", PASSWORD, state, start, names)
    assert signed_in(EditorsConfig(), state, start + 1) is None
    # So does a new password for it (`reportwatch editor add alice` again).
    sign_in(editors, "alice", PASSWORD, state, start, names)
    assert signed_in(editors, state, start + 1) is not None
    renewed = EditorsConfig(
        accounts=[{"name": "alice", "password_hash": hash_password("new one!")}]
    )
    assert signed_in(renewed, state, start + 1) is None


def test_failed_sign_ins_are_limited_per_name_and_per_session(editors: EditorsConfig) -> None:
    names = FailureLog()
    now = 5_000.0
    first: dict[str, object] = {}
    for _ in range(auth.MAX_FAILURES):
        assert sign_in(editors, "alice", "guess", first, now, names).wait == 0
    # Limited by name, even from another session and with the right password.
    other: dict[str, object] = {}
    limited = sign_in(editors, "Alice", PASSWORD, other, now + 10, names)
    assert limited.editor is None and limited.wait == pytest.approx(auth.WINDOW - 10)
    # Limited by session, whatever the name.
    assert sign_in(editors, "bob", "guess", first, now + 10, names).wait > 0
    # The window slides: after it, the right password works again.
    ok = sign_in(editors, "alice", PASSWORD, other, now + auth.WINDOW, names)
    assert ok.editor is not None and ok.wait == 0


def test_oidc_allow_list() -> None:
    editors = EditorsConfig(emails=["Ann@Example.com"], domains=["newsroom.example"])
    assert auth.email_allowed(editors, "ann@example.com")
    assert auth.email_allowed(editors, "bo@newsroom.example")
    assert not auth.email_allowed(editors, "bo@example.com")
    assert not auth.email_allowed(editors, "bo@sub.newsroom.example")
    assert not auth.email_allowed(editors, None)


# -- the pages under AppTest ----------------------------------------------------------------


@pytest.fixture
def site(feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A polled store, a local feed server (allowed as a source), no editors yet."""
    monkeypatch.setenv("REPORTWATCH_EMBEDDED_POLLER", "0")
    monkeypatch.delenv("REPORTWATCH_DATABASE_URL", raising=False)
    feed_server.set_feed("/feed.xml", rss([TENCENT, SHOP]))
    feed_server.set_feed("/more.xml", rss([TENCENT]))
    listed = [{"name": "本地源", "url": feed_server.url("/feed.xml")}]
    config = write_config(tmp_path, listed, allow_private_sources=True)
    monkeypatch.setenv("REPORTWATCH_CONFIG", str(config))
    return config


def open_app(page: str | None = None) -> AppTest:
    app = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=30).run()
    if page:
        app.switch_page(page).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_anonymous_viewer_cannot_edit_and_is_told_how_to_enable_editing(site: Path) -> None:
    app = open_app()
    assert "refresh_now" not in keys(app, "button")
    assert "编辑需要登录" in shown(app) and "editor add" in shown(app)
    assert "mark_read" in keys(app, "button")  # viewers still mark as read
    app = open_app("pages/sources.py")
    assert "new_url" not in keys(app, "text_input")
    assert not app.get("file_uploader") and "opml_merge" not in keys(app, "button")
    assert "opml_export" in {w.key for w in app.get("download_button")}  # reading stays open
    assert "编辑需要登录" in shown(app) and "sources.yaml" in shown(app)
    assert "signin_name" not in keys(app, "text_input")  # nothing to sign in with
    app.sidebar.radio[0].set_value("en").run()  # the language switch
    assert "Editing requires signing in" in shown(app)


def test_editor_signs_in_and_adds_a_source(site: Path, feed_server: FeedServer) -> None:
    done = editor_add(site, EDITOR, PASSWORD)
    assert done.returncode == 0, done.stderr
    app = open_app("pages/sources.py")
    assert "new_url" not in keys(app, "text_input")
    assert "请在「来源」页的侧边栏" in shown(app)
    app = sign_in_form(app, EDITOR, PASSWORD)
    assert not app.exception
    assert f"已以编辑身份登录:{EDITOR}" in shown(app)
    assert "new_url" in keys(app, "text_input") and app.get("file_uploader")
    app.text_input(key="new_name").set_value("新来源")
    app.text_input(key="new_url").set_value(feed_server.url("/more.xml"))
    next(b for b in app.main.button if b.label == "添加来源").click().run()
    assert "已加入 新来源" in shown(app)
    assert [s.name for s in load_config(site).config.sources] == ["本地源", "新来源"]
    assert PASSWORD not in str(dict(app.query_params)) and PASSWORD not in site.read_text()
    # The report page's 立即刷新 is there for the editor; signing out takes it away.
    app.switch_page("pages/report.py").run()
    assert "refresh_now" in keys(app, "button")
    app.switch_page("pages/sources.py").run()
    app.button(key="sign_out").click().run()
    assert "new_url" not in keys(app, "text_input")
    assert "signin_name" in keys(app, "text_input")


def test_wrong_password_is_refused_then_rate_limited(site: Path) -> None:
    assert editor_add(site, EDITOR, PASSWORD).returncode == 0
    auth.name_failures.clear()  # the per-name log is process-wide
    app = open_app("pages/sources.py")
    for _ in range(auth.MAX_FAILURES):
        app = sign_in_form(app, EDITOR, "not the password")
        assert "名称或密码不正确" in shown(app)
        assert "new_url" not in keys(app, "text_input")
    app = sign_in_form(app, EDITOR, PASSWORD)  # right, but too many failures just now
    assert "登录失败次数过多" in shown(app) and "秒后再试" in shown(app)
    assert "new_url" not in keys(app, "text_input")
    auth.name_failures.clear()


def test_session_expires(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_700_000_000.0]
    monkeypatch.setattr(auth, "clock", lambda: now[0])
    assert editor_add(site, EDITOR, PASSWORD).returncode == 0
    app = sign_in_form(open_app("pages/sources.py"), EDITOR, PASSWORD)
    assert "new_url" in keys(app, "text_input")
    now[0] += 8 * 3600 - 60
    app.run()
    assert "new_url" in keys(app, "text_input")
    now[0] += 61
    app.run()
    assert "new_url" not in keys(app, "text_input")
    assert "登录已过期" in shown(app)


def test_removing_the_account_signs_its_sessions_out(site: Path) -> None:
    app = as_editor(open_app("pages/sources.py"), site)
    assert "new_url" in keys(app, "text_input")
    data = yaml.safe_load(site.read_text(encoding="utf-8"))
    data["editors"] = {"accounts": []}
    site.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    app.run()
    assert "new_url" not in keys(app, "text_input")


# -- Chromium ---------------------------------------------------------------------------------


def test_viewer_and_editor_in_chromium(feed_server: FeedServer, tmp_path: Path) -> None:
    from tests.browser import APP_READY, chromium, open_app, streamlit_server

    feed_server.set_feed("/feed.xml", rss([TENCENT, SHOP]))
    feed_server.set_feed("/more.xml", rss([TENCENT]))
    listed = [{"name": "本地源", "url": feed_server.url("/feed.xml")}]
    config = write_config(tmp_path, listed, allow_private_sources=True, poll_interval=5)
    assert editor_add(config, EDITOR, PASSWORD).returncode == 0
    with streamlit_server(config) as base, chromium() as browser:
        page = open_app(browser, base + "/sources")
        main = page.locator("[data-testid='stMain']")
        main.get_by_text("编辑需要登录").first.wait_for(timeout=30_000)
        assert main.get_by_label("订阅源地址(http/https)").count() == 0  # no add-source form
        assert page.get_by_text("导入 OPML 文件").count() == 0
        sidebar = page.locator("[data-testid='stSidebar']")
        sidebar.get_by_label("名称").fill(EDITOR)
        sidebar.get_by_label("密码", exact=True).fill("not the password")
        sidebar.get_by_role("button", name="登录").click()
        sidebar.get_by_text("名称或密码不正确").wait_for(timeout=30_000)
        assert main.get_by_label("订阅源地址(http/https)").count() == 0
        sidebar.get_by_label("名称").fill(EDITOR)
        sidebar.get_by_label("密码", exact=True).fill(PASSWORD)
        sidebar.get_by_role("button", name="登录").click()
        sidebar.get_by_text(f"已以编辑身份登录:{EDITOR}").wait_for(timeout=30_000)
        url_box = main.get_by_label("订阅源地址(http/https)")
        url_box.wait_for(timeout=30_000)
        assert PASSWORD not in page.url
        main.get_by_label("名称(可留空)").fill("新来源")
        url_box.fill(feed_server.url("/more.xml"))
        main.get_by_role("button", name="添加来源").click()
        main.get_by_text("已加入 新来源").wait_for(timeout=30_000)
        assert [s.name for s in load_config(config).config.sources] == ["本地源", "新来源"]
        page.screenshot(path=str(tmp_path / "editor.png"), full_page=True)
        # A second browser (another session) is still a viewer.
        other = open_app(browser, base + "/sources")
        other.wait_for_selector(APP_READY, timeout=60_000)
        other.get_by_text("编辑需要登录").first.wait_for(timeout=30_000)
        assert other.get_by_label("订阅源地址(http/https)").count() == 0


# -- OIDC (st.login) against a mock provider, in Chromium -----------------------------------


@contextmanager
def server_with_secrets(config: Path, secrets: str) -> Iterator[str]:
    """tests.browser.streamlit_server with a known port (the OIDC redirect names it) and a
    secrets file of our own (never the checkout's .streamlit/secrets.toml)."""
    from tests.browser import free_port, streamlit_server

    port = free_port()
    secrets_file = config.parent / "secrets.toml"
    secrets_file.write_text(secrets.replace("{base}", f"http://127.0.0.1:{port}"), "utf-8")
    with streamlit_server(config, port=port, args=["--secrets.files", str(secrets_file)]) as base:
        yield base


def test_oidc_editor_by_email_domain_in_chromium(feed_server: FeedServer, tmp_path: Path) -> None:
    pytest.importorskip("authlib")
    mock = pytest.importorskip("oidc_provider_mock")
    from tests.browser import APP_READY, chromium, open_app

    feed_server.set_feed("/feed.xml", rss([TENCENT, SHOP]))
    listed = [{"name": "本地源", "url": feed_server.url("/feed.xml")}]
    config = write_config(
        tmp_path, listed, allow_private_sources=True, editors={"domains": ["newsroom.example"]}
    )
    with mock.run_server_in_thread() as provider:
        issuer = f"http://127.0.0.1:{provider.server_port}"
        secrets = f"""[auth]
redirect_uri = "{{base}}/oauth2callback"
cookie_secret = "reportwatch-test-cookie-secret-0123456789"
client_id = "reportwatch"
client_secret = "reportwatch-secret"
server_metadata_url = "{issuer}/.well-known/openid-configuration"
"""
        with server_with_secrets(config, secrets) as base, chromium() as browser:
            for email, editor in (("eve@elsewhere.example", False), ("ann@newsroom.example", True)):
                page = open_app(browser, base + "/sources")
                main = page.locator("[data-testid='stMain']")
                sidebar = page.locator("[data-testid='stSidebar']")
                main.get_by_text("请在「来源」页的侧边栏").first.wait_for(timeout=30_000)
                sidebar.get_by_role("button", name="用单点登录(SSO)").click()
                page.locator("input[name='sub']").fill(email)  # the mock's authorize form
                page.get_by_role("button", name="Authorize").click()
                page.wait_for_url(base + "/**")  # Streamlit's callback lands on the report page
                page.goto(base + "/sources")
                page.wait_for_selector(APP_READY, timeout=60_000)
                if editor:
                    sidebar.get_by_text("已以编辑身份登录").wait_for(timeout=30_000)
                    assert email in sidebar.inner_text().replace("\u2060", "")  # no autolink
                    main.get_by_label("订阅源地址(http/https)").wait_for(timeout=30_000)
                    page.screenshot(path=str(tmp_path / "oidc-editor.png"), full_page=True)
                    sidebar.get_by_role("button", name="退出登录").click()
                    page.wait_for_url(lambda url: "/sources" not in url)  # the provider's logout
                    page.goto(base + "/sources")
                    page.wait_for_selector(APP_READY, timeout=60_000)
                    sidebar.get_by_role("button", name="用单点登录(SSO)").wait_for(timeout=30_000)
                    assert main.get_by_label("订阅源地址(http/https)").count() == 0
                else:
                    sidebar.get_by_text("不在编辑名单中").wait_for(timeout=30_000)
                    assert main.get_by_label("订阅源地址(http/https)").count() == 0
                page.close()


def test_editor_add_asks_twice_on_a_terminal(tmp_path: Path) -> None:
    """On a TTY the password is read with getpass (no echo), twice; two different ones fail."""
    import pty

    config = tmp_path / "sources.yaml"
    config.write_text(COMMENTED, encoding="utf-8")

    def run(first: str, second: str) -> tuple[int, str]:
        argv = [sys.executable, "-m", "reportwatch.cli", "editor", "add", "ann", "--config",
                str(config)]  # fmt: skip
        pid, fd = pty.fork()
        if pid == 0:  # the child: its terminal is the pty
            os.chdir(ROOT)
            os.execv(sys.executable, argv)
        seen = b""
        for answer in (first, second):
            while b"assword: " not in seen.rsplit(b"\n", 1)[-1]:
                seen += os.read(fd, 1024)
            seen += b"\n"  # (what the terminal shows is the prompt, not the answer)
            os.write(fd, answer.encode() + b"\n")
        while True:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        return os.waitstatus_to_exitcode(status), seen.decode(errors="replace")

    code, screen = run(PASSWORD, "something else")
    assert code == 2 and "differ" in screen
    assert "editors" not in config.read_text(encoding="utf-8")
    code, screen = run(PASSWORD, PASSWORD)
    assert code == 0 and "added editor 'ann'" in screen
    assert PASSWORD not in screen  # getpass does not echo
    [account] = load_config(config).config.editors.accounts
    assert account.name == "ann"


def test_many_sign_ins_at_once_run_at_most_two_password_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """argon2 takes ~64 MiB a check: a crowd of sessions trying made-up names at once must not
    add up. Every attempt still runs a real check (or is refused); never more than two at once."""
    from reportwatch.config import editors as editors_module
    from reportwatch.config.settings import EditorAccount
    from tests.helpers import at_once

    real = editors_module._HASHER
    running, peak, lock = [0], [0], threading.Lock()

    class Counting:
        def verify(self, stored: str, password: str) -> bool:
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            try:
                return real.verify(stored, password)
            finally:
                with lock:
                    running[0] -= 1

    accounts = [EditorAccount(name="alice", password_hash=hash_password("correct horse"))]
    editors_module.verify_password(accounts, "nobody", "warm-up")  # the unknown-name hash
    monkeypatch.setattr(editors_module, "_HASHER", Counting())
    attempts = [lambda n=n: editors_module.verify_password(accounts, f"x{n}", "guess")
                for n in range(8)]  # fmt: skip
    assert at_once(*attempts) == [None] * 8
    assert peak[0] <= editors_module.CONCURRENT_CHECKS
    assert editors_module.verify_password(accounts, "alice", "correct horse") == "alice"
