"""Parse worker processes fed over pipes: the CPU part of a cold cycle on the other cores.

Why not multiprocessing: its forkserver and spawn children re-import the parent's __main__
module before they run anything (`reportwatch.cli` pulls in SQLAlchemy, pydantic and aiohttp;
under Streamlit, Streamlit's entry point), about 0.5 s of CPU per worker that the cycle needs
for parsing, and a later first result. These workers are plain `python -m
reportwatch.feeds.parsepool` processes that import only the parser. Each ends when its end of the
pipe closes, which also happens when the poller is killed with -9: no orphans.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import IO, Any

_SIZE = struct.Struct("!Q")


def _send(stream: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_SIZE.pack(len(data)))
    stream.write(data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    header = stream.read(_SIZE.size)
    if len(header) < _SIZE.size:
        raise EOFError("the parse worker ended")
    (size,) = _SIZE.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the parse worker ended mid-result")
    return pickle.loads(data)


class WorkerDied(Exception):
    """A parse worker process ended before it returned a result."""


class ParsePool:
    """`workers` processes; submit() returns a Future of the job's result (jobs as for
    reportwatch.parse.parse_job). One feeding thread per process sends a job and waits for
    its result, so a busy worker never has a queue of its own."""

    def __init__(self, workers: int) -> None:
        self._jobs: SimpleQueue[tuple[Future[Any], object] | None] = SimpleQueue()
        self._lock = threading.Lock()
        self._alive = workers
        self._broken = False
        self._busy: set[int] = set()  # pids of workers parsing a job right now
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])  # importable even when not installed
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self._procs = [
            subprocess.Popen(
                [sys.executable, "-m", "reportwatch.feeds.parsepool"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                start_new_session=True,  # a Ctrl-C is for the poller; the pipe ends workers
            )
            for _ in range(workers)
        ]
        for proc in self._procs:
            threading.Thread(target=self._feed, args=(proc,), daemon=True).start()

    def submit(self, job: object) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._broken:
                future.set_exception(WorkerDied("every parse worker ended"))
            else:
                self._jobs.put((future, job))
        return future

    def _feed(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            while (item := self._jobs.get()) is not None:
                future, job = item
                if not future.set_running_or_notify_cancel():
                    continue
                self._busy.add(proc.pid)
                try:
                    _send(proc.stdin, job)
                    ok, value = _receive(proc.stdout)
                except (OSError, EOFError, pickle.UnpicklingError) as exc:
                    future.set_exception(WorkerDied(str(exc) or "the parse worker ended"))
                    return
                finally:
                    self._busy.discard(proc.pid)
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(RuntimeError(value))
        finally:
            self._worker_gone(proc)

    def _worker_gone(self, proc: subprocess.Popen[bytes]) -> None:
        _close(proc)
        with self._lock:
            self._alive -= 1
            if self._alive or self._broken:
                return
            self._broken = True  # the last one: nobody would take the jobs still queued
        self._drain(WorkerDied("every parse worker ended"))

    def _drain(self, reason: BaseException | None) -> None:
        while True:
            try:
                item = self._jobs.get_nowait()
            except Empty:
                return
            if item is not None:
                if reason is None:
                    item[0].cancel()
                elif item[0].set_running_or_notify_cancel():
                    item[0].set_exception(reason)

    def shutdown(self) -> None:
        """Cancel what has not started and end the workers: an idle one exits when its pipe
        closes, a busy one (its result no longer wanted) is killed. Not waited for here:
        a worker's exit takes a while, and nothing depends on it; a thread reaps them."""
        with self._lock:
            self._broken = True
        self._drain(None)
        for _ in self._procs:
            self._jobs.put(None)
        for proc in self._procs:
            if proc.pid in self._busy:
                proc.kill()
        procs = list(self._procs)
        threading.Thread(target=lambda: [p.wait() for p in procs], daemon=True).start()


def _close(proc: subprocess.Popen[bytes]) -> None:
    for stream in (proc.stdin, proc.stdout):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass


def _serve() -> None:
    """Worker loop: job in, (ok, result or message) out, until the poller closes the pipe."""
    from reportwatch.feeds.parse import parse_job

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stray prints must not corrupt the result stream
    while True:
        try:
            job = _receive(stdin)
        except EOFError:
            return
        try:
            reply: tuple[bool, object] = (True, parse_job(job))
        except Exception as exc:  # parse_entries should not raise; never kill the worker
            reply = (False, f"{type(exc).__name__}: {exc}"[:300])
        try:
            _send(stdout, reply)
        except BrokenPipeError:
            return


if __name__ == "__main__":
    try:
        _serve()
    except KeyboardInterrupt:
        pass
