"""The poller embedded in the Streamlit server: one background thread per server process.

Kept apart from reportwatch.poller so the page can start it without importing the fetch and
parse stack (aiohttp, feedparser): the thread imports them itself, off the first page run.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable

from reportwatch.config import LoadedConfig
from reportwatch.store import Store

log = logging.getLogger(__name__)


def _host() -> str:
    # Cut so that a poller id always fits the store's 64-character lease_owner column.
    return socket.gethostname()[:40]


def poller_id() -> str:
    """host:pid:random — unique per poller, and says which process holds a lease."""
    return f"{_host()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner: str) -> bool:
    """True when a lease owner (see poller_id) is a process of this host that no longer exists,
    e.g. a worker killed with -9. Other hosts and live pids count as alive (their leases simply
    expire); a recycled pid only delays the take-over until then."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != _host() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: the process exists, it just is not ours
        return False
    return False


def user_message(exc: BaseException, url: str) -> str:
    """A failed cycle as a plain sentence for the panel (not the driver's text with its SQL)."""
    from sqlalchemy.exc import SQLAlchemyError

    from reportwatch.dberrors import describe_db_error

    if isinstance(exc, SQLAlchemyError):
        return describe_db_error(exc, url)
    return f"{type(exc).__name__}: {exc}"[:300]


class EmbeddedPoller:
    """A background thread that polls on the config's interval until stopped."""

    def __init__(self, load: Callable[[], LoadedConfig], store: Store):
        self._load = load
        self._store = store
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reportwatch-poller", daemon=True)
        self.owner = poller_id()
        self.last_error: str | None = None

    def start(self) -> EmbeddedPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _loop(self) -> None:
        from reportwatch.poller import run_cycle  # heavy imports happen here, in the background

        while not self._stop.is_set():
            interval = 60
            try:
                loaded = self._load()
                interval = loaded.config.poll_interval
                run_cycle(loaded, self._store, owner=self.owner)
                self._store.index_pending()  # search-index the new rows, outside the cycle
                self.last_error = None
            except Exception as exc:  # keep polling: the next cycle may succeed
                log.exception("poll cycle failed")
                self.last_error = user_message(exc, self._store.url)
            # Sources come due on their own schedule; wake often enough to catch each one.
            self._stop.wait(min(interval, 5) if interval >= 5 else interval)
