"""Sending a message to a channel: apprise for every URL it knows, our own senders where the
platforms need what apprise does not do (behind the same URL):

- wecombot://KEY — WeCom's robot counts 2,048 *bytes* of text and 4,096 of Markdown (apprise
  counts characters; a Chinese character is three bytes); errcode 45009 means over the rate.
- feishu://TOKEN or feishu://SECRET@TOKEN — Feishu's robots with 签名校验 need `timestamp` and
  `sign` (HMAC-SHA256 keyed by "timestamp\\nsecret" over nothing, base64) in the body, which
  apprise does not send; code 9499/11232 means over the rate.

Every result says whether to retry and when (a 429's Retry-After, the platforms' own rate
codes). The channel's URL is a secret: no message, log line or error here contains it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote, unquote

from reportwatch.config.settings import NotifyChannel

from .message import Message, fit_bytes

log = logging.getLogger(__name__)
TIMEOUT = 10
WECOM = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
FEISHU = "https://open.feishu.cn/open-apis/bot/v2/hook"
WECOM_MARKDOWN_BYTES, WECOM_TEXT_BYTES = 4096, 2048
FEISHU_TEXT_BYTES = 20_000  # Feishu takes ~30 KB a request; keep well inside
# Messages a channel may take per minute (the platforms' documented robot limits).
PER_MINUTE = {"wecombot": 20, "dingtalk": 20, "feishu": 100}
DEFAULT_PER_MINUTE = 30


@dataclass(frozen=True)
class Sent:
    ok: bool
    error: str = ""
    retry_after: float | None = None  # seconds the platform asked us to wait (429, rate codes)


def per_minute(channel: NotifyChannel) -> int:
    return PER_MINUTE.get(channel.kind, DEFAULT_PER_MINUTE)


def message_bytes(channel: NotifyChannel) -> int | None:
    """The most a message to this channel may carry (None: no limit we know of)."""
    return {"wecombot": WECOM_MARKDOWN_BYTES, "feishu": FEISHU_TEXT_BYTES}.get(channel.kind)


def send(channel: NotifyChannel, message: Message) -> Sent:
    try:
        url = channel.resolved_url()
    except KeyError as exc:
        return Sent(False, f"environment variable {exc.args[0]} is not set")
    kind = channel.kind
    try:
        if kind == "wecombot":
            return _wecom(url, channel.endpoint, message)
        if kind == "feishu":
            return _feishu(url, channel.endpoint, message)
        return _apprise(url, message)
    except Exception as exc:  # a sender must never stop delivery: kept, retried, shown
        log.warning("channel %s: sending failed: %s", channel.name, type(exc).__name__)
        return Sent(False, f"{type(exc).__name__}")


# -- our own senders ------------------------------------------------------------------------


def _post(url: str, body: dict[str, object]) -> tuple[int, dict[str, object], float | None]:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        url, data=data, method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "reportwatch"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 (http(s) only)
            status, raw, retry = response.status, response.read(1 << 20), None
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read(1 << 16) if exc.fp else b""
        retry = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
    except urllib.error.URLError as exc:
        reason = exc.reason if isinstance(exc.reason, str) else type(exc.reason).__name__
        raise ConnectionError(str(reason)) from None
    try:
        payload = json.loads(raw.decode("utf-8")) if raw else {}
    except (UnicodeDecodeError, ValueError):
        payload = {}
    return status, payload if isinstance(payload, dict) else {}, retry


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return float(value.strip())
    return None


def _http_problem(status: int, retry: float | None) -> Sent:
    if status == 429:
        return Sent(False, "HTTP 429 (rate limited)", retry or 60.0)
    return Sent(False, f"HTTP {status}", retry)


def _wecom(url: str, endpoint: str | None, message: Message) -> Sent:
    key = unquote(url.split("://", 1)[1].strip("/").split("/", 1)[0].split("?", 1)[0])
    if not key:
        return Sent(False, "wecombot:// needs the robot's key")
    target = f"{endpoint or WECOM}?key={quote(key, safe='')}"
    content = fit_bytes(message.markdown, WECOM_MARKDOWN_BYTES)
    status, payload, retry = _post(
        target, {"msgtype": "markdown", "markdown": {"content": content}}
    )
    if status != 200:
        return _http_problem(status, retry)
    code = payload.get("errcode", 0)
    if code == 0:
        return Sent(True)
    if code == 45009:
        return Sent(False, "WeCom: over the robot's rate (errcode 45009)", 60.0)
    return Sent(False, f"WeCom errcode {code}")


def feishu_sign(timestamp: int, secret: str) -> str:
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def _feishu(url: str, endpoint: str | None, message: Message) -> Sent:
    # By hand, not urlsplit().hostname: that lower-cases, and tokens are case-sensitive.
    rest = url.split("://", 1)[1]
    secret, _, token = rest.rpartition("@") if "@" in rest.split("/", 1)[0] else ("", "", rest)
    secret, token = unquote(secret), unquote(token.strip("/").split("/", 1)[0].split("?", 1)[0])
    if not token:
        return Sent(False, "feishu:// needs the robot's token")
    body: dict[str, object] = {
        "msg_type": "text",
        "content": {"text": fit_bytes(message.text, FEISHU_TEXT_BYTES)},
    }
    if secret:
        timestamp = int(time.time())
        body |= {"timestamp": str(timestamp), "sign": feishu_sign(timestamp, secret)}
    status, payload, retry = _post(f"{endpoint or FEISHU}/{quote(token, safe='')}", body)
    if status != 200:
        return _http_problem(status, retry)
    code = payload.get("code", payload.get("StatusCode", 0))
    if code == 0:
        return Sent(True)
    if code in (9499, 11232):
        return Sent(False, f"Feishu: over the robot's rate (code {code})", 60.0)
    return Sent(False, f"Feishu code {code}")


# -- apprise --------------------------------------------------------------------------------

_STATUS = re.compile(r"error=(\d{3})")


class _Statuses(logging.Handler):
    """apprise tells an HTTP failure only in its log ("… error=429."): keep the codes."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.codes: list[int] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            found = _STATUS.search(record.getMessage())
        except Exception:  # a record that cannot be formatted tells nothing
            return
        if found:
            self.codes.append(int(found.group(1)))


@contextmanager
def _quiet_apprise() -> Iterator[_Statuses]:
    """apprise logs URLs (tokens in paths, topics, header values): its records go to a listener
    that keeps only HTTP status codes, never to our logs or stderr."""
    listener = _Statuses()
    logger = logging.getLogger("apprise")
    propagate, level = logger.propagate, logger.level
    logger.addHandler(listener)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)  # setLevel, not .level =: it clears the logging cache
    try:
        yield listener
    finally:
        logger.removeHandler(listener)
        logger.propagate = propagate
        logger.setLevel(level)


def _apprise(url: str, message: Message) -> Sent:
    import apprise

    with _quiet_apprise() as listener:
        box = apprise.Apprise()
        if not box.add(url):
            return Sent(False, "apprise does not understand this URL (see check-config)")
        ok = box.notify(body=message.text, title=message.title)
    if ok:
        return Sent(True)
    if 429 in listener.codes:
        return Sent(False, "HTTP 429 (rate limited)", 60.0)
    if listener.codes:
        return Sent(False, f"HTTP {listener.codes[-1]}")
    return Sent(False, "not delivered (apprise)")


def understood(channel: NotifyChannel) -> str | None:
    """Why apprise (or our sender) cannot use the channel's URL, or None (for check-config).
    ${ENV_VAR}s that are not set are named; the URL itself never is."""
    missing = channel.missing_env()
    if missing:
        return "environment variable(s) not set: " + ", ".join(missing)
    url = channel.resolved_url()
    if channel.kind in ("wecombot", "feishu"):
        rest = url.split("://", 1)[1].strip("/")
        token = rest.rpartition("@")[2] if "@" in rest.split("/", 1)[0] else rest
        return None if token.split("/", 1)[0] else f"{channel.kind}:// needs the robot's token"
    import apprise

    with _quiet_apprise():
        known = apprise.Apprise.instantiate(url)
    if known is None:
        return f"apprise does not understand this {channel.kind}:// URL"
    return None
