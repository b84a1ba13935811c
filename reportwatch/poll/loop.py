"""The one watch loop: `reportwatch poll --watch` and the poller embedded in the Streamlit server
both run `watch`, so they reload the config, survive store trouble and index search the same way.

Kept light: the page starts the embedded thread without importing the fetch and parse stack
(aiohttp, feedparser); `watch` imports the cycle itself, in the background thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reportwatch.config.settings import ConfigError, LoadedConfig
from reportwatch.models import FetchResult
from reportwatch.poll.owner import poller_id
from reportwatch.store.core import Store, StoreError

if TYPE_CHECKING:
    from reportwatch.poll.cycle import CycleReport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CycleEnd:
    """How one turn of the loop ended: a report, or the sentence that says what went wrong."""

    report: CycleReport | None = None
    error: str | None = None
    config: bool = False  # the error is the config's: the cycle ran on the last good one


def watch(
    load: Callable[[], LoadedConfig],
    store: Store,
    stop: threading.Event,
    *,
    owner: str,
    once: bool = False,
    trigger: str = "schedule",
    on_fetched: Callable[[int], Callable[[FetchResult], None] | None] | None = None,
    on_cycle: Callable[[CycleEnd], None] | None = None,
) -> None:
    """Poll until `stop` is set (or one cycle when `once`). A broken config keeps the last good
    one; a store that refuses work (locked, read-only, gone) is reported and retried, never fatal
    in watch mode. With `once`, store errors propagate (the CLI turns them into exit code 3)."""
    from reportwatch.poll.cycle import run_cycle  # heavy imports happen here, off the page run

    loaded = load()
    while True:
        progress = on_fetched(sum(s.enabled for s in loaded.config.sources)) if on_fetched else None
        try:
            report = run_cycle(loaded, store, owner=owner, force=once, trigger=trigger,
                               on_fetched=progress)  # fmt: skip
            if not once:  # search-index the cycle's new rows between cycles (with --once the
                store.index_pending()  # search reads the queue; the next worker indexes it)
            end = CycleEnd(report=report)
        except StoreError as exc:
            if once:
                raise
            end = CycleEnd(error=str(exc))
        except Exception as exc:  # keep polling: the next cycle may succeed
            if once:
                raise
            log.exception("poll cycle failed")
            end = CycleEnd(error=f"{type(exc).__name__}: {exc}"[:300])
        finally:
            close = getattr(progress, "close", None)
            if close:
                close()
        if on_cycle:
            on_cycle(end)
        # Sources come due on their own schedule; wake often enough to catch each one.
        if once or stop.wait(min(loaded.config.poll_interval, 5)):
            return
        try:
            loaded = load()  # pick up edits; keep the last good one if broken
        except ConfigError as exc:
            log.warning("keeping the last good configuration: %s", exc)
            if on_cycle:
                on_cycle(CycleEnd(error=str(exc), config=True))


class EmbeddedPoller:
    """A background thread of the Streamlit server that runs `watch` until stopped."""

    def __init__(self, load: Callable[[], LoadedConfig], store: Store):
        self._load = load
        self._store = store
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reportwatch-poller", daemon=True)
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

    def _ended(self, end: CycleEnd) -> None:
        if not end.config:  # the page shows a broken config itself
            self.last_error = end.error

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                watch(self._load, self._store, self._stop, owner=self.owner,
                      on_cycle=self._ended)  # fmt: skip
            except Exception as exc:  # e.g. no usable config at start: try again shortly
                log.exception("embedded poller could not start a cycle")
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                self._stop.wait(5)
