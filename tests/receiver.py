"""A local webhook receiver on 127.0.0.1 for the alert tests: it records every POST (path,
query, headers, JSON body) and answers from a queue of canned replies (then 200 with the
platforms' "ok" body). It can check Feishu signatures as Feishu does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

OK_BODY = {"errcode": 0, "errmsg": "ok", "code": 0, "msg": "success"}


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] = field(default_factory=lambda: dict(OK_BODY))
    headers: dict[str, str] = field(default_factory=dict)
    # Set: the receiver signals `arrived` once the request is recorded, then waits for `hold`
    # before answering (a sender stuck mid-delivery).
    hold: threading.Event | None = None
    arrived: threading.Event | None = None


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict[str, Any]
    status: int  # what the receiver answered


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.replies: list[Reply] = []
        self.feishu_secret: str | None = None  # when set, unsigned or badly signed posts fail
        self.lock = threading.Lock()
        self.port = 0

    @property
    def delivered(self) -> list[Received]:
        return [r for r in self.received if r.status == 200 and r.body.get("code", 0) == 0]

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        size = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(size)
        try:
            body = json.loads(raw.decode("utf-8")) if raw else {}
        except ValueError:
            body = {"_raw": raw.decode("utf-8", "replace")}
        parts = urlsplit(handler.path)
        with self.lock:
            reply = self.replies.pop(0) if self.replies else Reply()
            if self.feishu_secret is not None and reply.status == 200:
                reply = self._check_feishu(body) or reply
            self.received.append(
                Received(parts.path, parse_qs(parts.query), dict(handler.headers), body,
                         reply.status if reply.body.get("code", 0) == 0 else 299)
            )  # fmt: skip
        if reply.hold is not None:
            if reply.arrived is not None:
                reply.arrived.set()
            reply.hold.wait(60)
        data = json.dumps(reply.body).encode()
        handler.send_response(reply.status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in reply.headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _check_feishu(self, body: dict[str, Any]) -> Reply | None:
        """Feishu's check: sign == base64(HMAC-SHA256(key="timestamp\\nsecret", msg=""))."""
        assert self.feishu_secret is not None
        timestamp = str(body.get("timestamp", ""))
        key = f"{timestamp}\n{self.feishu_secret}".encode()
        expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
        if body.get("sign") != expected:
            return Reply(
                200,
                {
                    "code": 19021,
                    "msg": "sign match fail or timestamp is not within one hour from current time",
                },
            )
        return None


@contextmanager
def receiver() -> Iterator[Receiver]:
    box = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            box._answer(self)

        def log_message(self, *args: object) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()
