"""Who may change things from the UI: viewers read, editors (signed in) edit.

Viewers (anyone who opens the page) read everything, filter and mark as read. Editors add
sources, import OPML and press 立即刷新. With no `editors:` in sources.yaml nobody edits from the
UI: the CLI and the file stay the operator's tools.

Two ways to sign in:
- built-in accounts (`editors.accounts`, argon2 hashes written by `reportwatch editor add`):
  a name + password form in the sidebar. The signed-in editor lives in this session's state
  with an expiry (`editors.session_hours`, 8 by default); removing the account from the file
  or giving it a new password ends its sessions. Failed attempts are limited per name (across
  the server process) and per session: MAX_FAILURES in WINDOW seconds, then a message saying
  when to try again.
- Streamlit's own `st.login` (OIDC) when `[auth]` is set in .streamlit/secrets.toml: a signed-in
  user whose email is in `editors.emails` or whose domain is in `editors.domains` edits.

Nothing secret goes into the URL, the logs or messages (the password field is cleared on submit).
The functions that decide take the session state and the time as parameters, for tests.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from reportwatch.config.editors import verify_password
from reportwatch.config.settings import EditorsConfig, LoadedConfig
from reportwatch.ui.i18n import t
from reportwatch.ui.markdown import escape_markdown

log = logging.getLogger(__name__)

SESSION_KEY = "_rw_editor"  # the signed-in Editor of this session
FAILURES_KEY = "_rw_signin_failures"  # this session's FailureLog
NOTICE_KEY = "_rw_signin_notice"  # a message for the next run (expired session)
MAX_FAILURES = 5
WINDOW = 300.0  # seconds
MAX_TRACKED_NAMES = 10_000  # bounds the per-name log against floods of made-up names

clock: Callable[[], float] = time.time  # the time in seconds; tests replace it


@dataclass(frozen=True)
class Editor:
    name: str  # the account name, or the email for OIDC
    via: str  # "password" or "oidc"
    expires: float | None = None  # seconds since the epoch; OIDC sessions follow Streamlit's
    stamp: str = ""  # a digest of the password hash: a new password ends the old sessions


@dataclass
class FailureLog:
    """Failed sign-ins per key within a sliding window."""

    limit: int = MAX_FAILURES
    window: float = WINDOW
    times: dict[str, list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, key: str, now: float) -> list[float]:
        kept = [at for at in self.times.get(key, []) if now - at < self.window]
        if kept:
            self.times[key] = kept
        else:
            self.times.pop(key, None)
        return kept

    def wait(self, key: str, now: float) -> float:
        """0 when another attempt is allowed, else the seconds until one is."""
        with self.lock:
            recent = self._recent(key, now)
            if len(recent) < self.limit:
                return 0.0
            return recent[-self.limit] + self.window - now

    def fail(self, key: str, now: float) -> None:
        with self.lock:
            if key not in self.times and len(self.times) >= MAX_TRACKED_NAMES:
                for old in list(self.times):
                    self._recent(old, now)
                if len(self.times) >= MAX_TRACKED_NAMES:  # still full: forget the oldest
                    self.times.pop(min(self.times, key=lambda k: self.times[k][-1]))
            self.times.setdefault(key, []).append(now)

    def clear(self, key: str) -> None:
        with self.lock:
            self.times.pop(key, None)


@dataclass(frozen=True)
class SignIn:
    editor: Editor | None  # set when the sign-in worked
    wait: float = 0.0  # > 0: refused without checking, too many failures; try again after this


def email_allowed(editors: EditorsConfig, email: str | None) -> bool:
    if not email or "@" not in email:
        return False
    email = email.strip().lower()
    return email in editors.emails or email.rsplit("@", 1)[1] in editors.domains


def signed_in(editors: EditorsConfig, state: MutableMapping[str, Any], now: float) -> Editor | None:
    """The password-signed-in editor of this session, or None (dropped when expired or when the
    account is gone from the config)."""
    editor = state.get(SESSION_KEY)
    if not isinstance(editor, Editor) or editor.via != "password":
        return None
    stamps = {account.name: _stamp(account.password_hash.get_secret_value())
              for account in editors.accounts}  # fmt: skip
    if editor.expires is None or now >= editor.expires or stamps.get(editor.name) != editor.stamp:
        del state[SESSION_KEY]
        state[NOTICE_KEY] = "session_expired"
        return None
    return editor


def sign_in(
    editors: EditorsConfig,
    name: str,
    password: str,
    state: MutableMapping[str, Any],
    now: float,
    names: FailureLog,
) -> SignIn:
    """Check a name and password; on success the session holds the editor until it expires."""
    key = name.strip().casefold()[:200]
    session = state.get(FAILURES_KEY)
    if not isinstance(session, FailureLog):
        session = state[FAILURES_KEY] = FailureLog()
    wait = max(names.wait(key, now), session.wait("", now))
    if wait > 0:
        return SignIn(None, wait)
    account = verify_password(editors.accounts, name, password)
    if account is None:
        names.fail(key, now)
        session.fail("", now)
        log.warning("editor sign-in refused (wrong name or password)")
        return SignIn(None)
    names.clear(key)
    stored = next(a.password_hash for a in editors.accounts if a.name == account)
    stamp = _stamp(stored.get_secret_value())
    editor = Editor(account, "password", now + editors.session_hours * 3600, stamp)
    state[SESSION_KEY] = editor
    state.pop(NOTICE_KEY, None)
    log.info("editor signed in")
    return SignIn(editor)


def _stamp(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def sign_out(state: MutableMapping[str, Any]) -> None:
    state.pop(SESSION_KEY, None)


# -- Streamlit ------------------------------------------------------------------------------


@st.cache_resource
def name_failures() -> FailureLog:
    """Failed sign-ins per name, shared by every session of this server process."""
    return FailureLog()


def oidc_configured() -> bool:
    """True when .streamlit/secrets.toml has an [auth] section (st.login can work)."""
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file, or one that does not parse
        return False


def _oidc_user() -> tuple[bool, str | None]:
    """(signed in with st.login, their email)."""
    try:
        if not st.user.is_logged_in:
            return False, None
        email = st.user.get("email")
    except Exception:  # noqa: BLE001 - st.user without [auth]
        return False, None
    return True, email if isinstance(email, str) else None


def current_editor(loaded: LoadedConfig, now: float | None = None) -> Editor | None:
    """The editor using this session, or None for a viewer."""
    editors = loaded.config.editors
    now = clock() if now is None else now
    editor = signed_in(editors, st.session_state, now)
    if editor is not None:
        return editor
    if (editors.emails or editors.domains) and oidc_configured():
        logged_in, email = _oidc_user()
        if logged_in and email_allowed(editors, email):
            return Editor(email.strip().lower() if email else "", "oidc")
    return None


def can_edit(loaded: LoadedConfig) -> bool:
    return current_editor(loaded) is not None


def sign_in_possible(loaded: LoadedConfig) -> bool:
    editors = loaded.config.editors
    return bool(editors.accounts) or bool((editors.emails or editors.domains) and oidc_configured())


def edit_notice(loaded: LoadedConfig, lang: str, small: bool = False) -> None:
    """Shown to viewers in place of the edit controls: how editing is enabled."""
    text = t("edit_sign_in" if sign_in_possible(loaded) else "edit_disabled", lang)
    if small:
        st.caption("🔒 " + text)
    else:
        st.info(text, icon="🔒")


def editor_sidebar(loaded: LoadedConfig, lang: str) -> None:
    """The sidebar's sign-in form (or who is signed in and a sign-out button)."""
    if not sign_in_possible(loaded) and SESSION_KEY not in st.session_state:
        return
    editors = loaded.config.editors
    editor = current_editor(loaded)
    with st.sidebar:
        st.divider()
        if editor is not None:
            st.caption(t("signed_in_as", lang, name=escape_markdown(editor.name)))
            if st.button(t("sign_out", lang), key="sign_out", icon="🚪"):
                sign_out(st.session_state)
                if editor.via == "oidc":
                    st.logout()  # clears the identity cookie, ends the provider's session
                    return
                st.rerun()
            return
        notice = st.session_state.pop(NOTICE_KEY, None)
        if notice:
            st.warning(t(notice, lang))
        if editors.accounts:
            _password_form(editors, lang)
        if (editors.emails or editors.domains) and oidc_configured():
            logged_in, email = _oidc_user()
            if logged_in:
                st.caption(t("oidc_not_editor", lang, email=escape_markdown(email or "?")))
                if st.button(t("sign_out", lang), key="oidc_sign_out", icon="🚪"):
                    st.logout()
            elif st.button(t("signin_oidc", lang), key="oidc_sign_in", icon="🔑"):
                st.login()


def _password_form(editors: EditorsConfig, lang: str) -> None:
    with st.form("sign_in", clear_on_submit=True, enter_to_submit=True):
        st.markdown(f"**{t('signin_title', lang)}**")
        name = st.text_input(t("signin_name", lang), key="signin_name", max_chars=100)
        password = st.text_input(
            t("signin_password", lang), key="signin_password", type="password", max_chars=1024
        )
        submitted = st.form_submit_button(t("signin_submit", lang))
    if not submitted:
        return
    result = sign_in(editors, name, password, st.session_state, clock(), name_failures())
    if result.editor is not None:
        st.rerun()
    elif result.wait > 0:
        st.error(t("signin_limited", lang, n=int(result.wait) + 1))
    else:
        st.error(t("signin_wrong", lang))
