"""Config writes are safe: people adding sources at the same moment (threads of one server, or
several processes) and edits made by hand while a merge runs are all kept (issue 15, item 6)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from reportwatch.config.opml import OpmlFeed
from reportwatch.config.settings import load_config
from reportwatch.config.sources_edit import (
    ATTEMPTS,
    MergeError,
    edit_lock,
    lock_path,
    merge_sources,
)
from tests.helpers import ROOT, at_once

# 20 adds queue for one lock, ~0.1 s each here; a loaded test machine must not turn the UI's
# 10 s patience into a failure of a test about lost sources (the timeout has its own test).
PATIENT = 120.0


def public(host: str, port: int, type: int = 0) -> list[tuple]:  # noqa: A002 - getaddrinfo's name
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    """A copy of the real, heavily commented sources.yaml."""
    path = tmp_path / "sources.yaml"
    shutil.copy(ROOT / "sources.yaml", path)
    return path


def feed(i: int) -> OpmlFeed:
    return OpmlFeed(f"并发源 {i}", f"https://feed{i}.example/rss")


def check_file(path: Path, before: str, urls: list[str]) -> list[dict[str, object]]:
    """The file kept every line it had, is valid YAML and a valid config, and lists each of
    `urls` once with `origin: ui`; the added source dicts."""
    after = path.read_text(encoding="utf-8")
    kept = [line for line in after.splitlines() if line in before.splitlines()]
    assert kept == before.splitlines()  # every comment and line survives, in order
    data = yaml.safe_load(after)
    added = [s for s in data["sources"] if s["url"] in urls]
    assert sorted(s["url"] for s in added) == sorted(urls)  # each exactly once
    assert all(s.get("origin") == "ui" for s in added)
    old = yaml.safe_load(before)["sources"]
    assert data["sources"][: len(old)] == old
    assert len(data["sources"]) == len(old) + len(urls)
    config = load_config(path).config
    assert len(config.sources) == len(old) + len(urls)
    return added


def test_twenty_threads_adding_at_once_all_land(shipped: Path) -> None:
    before = shipped.read_text(encoding="utf-8")
    feeds = [feed(i) for i in range(20)]
    results = at_once(
        *[
            lambda f=f: merge_sources(shipped, [f], False, public, lock_timeout=PATIENT)
            for f in feeds
        ]
    )
    assert [r[0].status for r in results] == ["new"] * 20
    added = check_file(shipped, before, [f.url for f in feeds])
    assert sorted(s["name"] for s in added) == sorted(f.title for f in feeds)
    leftovers = [p.name for p in shipped.parent.iterdir()]
    assert sorted(leftovers) == [".sources.yaml.lock", "sources.yaml"]  # no temp file left


def test_twenty_threads_with_the_same_name_get_unique_names(shipped: Path) -> None:
    before = shipped.read_text(encoding="utf-8")
    feeds = [OpmlFeed("同名", f"https://same{i}.example/rss") for i in range(20)]
    at_once(
        *[
            lambda f=f: merge_sources(shipped, [f], False, public, lock_timeout=PATIENT)
            for f in feeds
        ]
    )
    added = check_file(shipped, before, [f.url for f in feeds])
    assert sorted(s["name"] for s in added) == sorted(
        ["同名"] + [f"同名 ({n})" for n in range(2, 21)]
    )


def test_threads_adding_the_same_url_add_it_once(shipped: Path) -> None:
    before = shipped.read_text(encoding="utf-8")
    same = OpmlFeed("一样", "https://once.example/rss")
    results = at_once(
        *[lambda: merge_sources(shipped, [same], False, public, lock_timeout=PATIENT)] * 8
    )
    assert sorted(r[0].status for r in results) == ["duplicate"] * 7 + ["new"]
    check_file(shipped, before, [same.url])


CHILD = r"""
import json, socket, sys
from pathlib import Path
from reportwatch.config.opml import OpmlFeed
from reportwatch.config.sources_edit import merge_sources

def public(host, port, type=0):
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

path, first, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()  # the parent says go to every process at once
statuses = []
for i in range(first, first + count):
    feed = OpmlFeed(f"进程源 {i}", f"https://proc{i}.example/rss")
    statuses.append(merge_sources(path, [feed], False, public, lock_timeout=120)[0].status)
print(json.dumps(statuses), flush=True)
"""


def test_four_processes_adding_at_once_all_land(shipped: Path) -> None:
    before = shipped.read_text(encoding="utf-8")
    processes, per_process = 4, 5
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(shipped), str(n * per_process), str(per_process)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for n in range(processes)
    ]
    try:
        for child in children:  # a barrier across processes: all started and imported
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = [child.communicate(timeout=120) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
        assert json.loads(out) == ["new"] * per_process
    urls = [f"https://proc{i}.example/rss" for i in range(processes * per_process)]
    check_file(shipped, before, urls)


def test_an_edit_made_between_read_and_write_is_kept(shipped: Path) -> None:
    """Someone edits the file by hand (no lock) while a merge runs: the merge starts over
    from their text, so their edit and the new source are both in the file."""
    before = shipped.read_text(encoding="utf-8")
    calls = []

    def edit_by_hand() -> None:
        calls.append(1)
        if len(calls) == 1:
            text = shipped.read_text(encoding="utf-8")
            text = text.replace("poll_interval: 300 ", "poll_interval: 120 ")
            text = text.replace(
                "sources:\n", "sources:\n  - name: 手加\n    url: https://hand.example/rss\n", 1
            )
            shipped.write_text("# edited by hand\n" + text, encoding="utf-8")

    verdicts = merge_sources(shipped, [feed(1)], False, public, _before_write=edit_by_hand)
    assert verdicts[0].status == "new" and len(calls) == 2  # merged twice
    after = shipped.read_text(encoding="utf-8")
    assert after.startswith("# edited by hand\n")
    config = load_config(shipped).config
    assert config.poll_interval == 120
    names = [s.name for s in config.sources]
    assert names[0] == "手加" and names[-1] == feed(1).title
    data = yaml.safe_load(after)
    assert data["sources"][-1] == {"name": feed(1).title, "url": feed(1).url, "origin": "ui"}
    assert "origin" not in data["sources"][0]  # the hand-added source is not marked
    for line in before.splitlines():
        if line.lstrip().startswith("#"):
            assert line in after


def test_an_edit_that_adds_the_same_url_makes_it_a_duplicate(shipped: Path) -> None:
    def add_it_by_hand() -> None:
        text = shipped.read_text(encoding="utf-8")
        if feed(2).url not in text:
            shipped.write_text(
                text.replace("sources:\n", f"sources:\n  - name: x\n    url: {feed(2).url}\n", 1),
                encoding="utf-8",
            )

    verdicts = merge_sources(shipped, [feed(2)], False, public, _before_write=add_it_by_hand)
    assert verdicts[0].status == "duplicate"
    assert shipped.read_text(encoding="utf-8").count(feed(2).url) == 1


def test_a_file_that_keeps_changing_is_left_to_the_editor(shipped: Path) -> None:
    calls = []

    def keep_editing() -> None:
        calls.append(1)
        with shipped.open("a", encoding="utf-8") as handle:
            handle.write(f"# edit {len(calls)}\n")

    with pytest.raises(MergeError, match="kept changing"):
        merge_sources(shipped, [feed(3)], False, public, _before_write=keep_editing)
    after = shipped.read_text(encoding="utf-8")
    assert len(calls) == ATTEMPTS and after.endswith(f"# edit {ATTEMPTS}\n")
    assert feed(3).url not in after


def test_a_held_lock_times_out_with_a_clear_message(shipped: Path) -> None:
    before = shipped.read_bytes()
    with edit_lock(shipped):
        with pytest.raises(MergeError, match="another edit is in progress, try again"):
            merge_sources(shipped, [feed(4)], False, public, lock_timeout=0.2)
    assert shipped.read_bytes() == before
    assert lock_path(shipped) == shipped.parent / ".sources.yaml.lock"
    merge_sources(shipped, [feed(4)], False, public)  # released: the next add works
    assert feed(4).url in shipped.read_text(encoding="utf-8")


def test_an_add_waits_for_an_edit_holding_the_lock(shipped: Path) -> None:
    """An editor that takes the lock (another merge, or a tool using edit_lock) and edits: the
    add waiting for it reads the file after that edit, and both changes are kept."""
    before = shipped.read_text(encoding="utf-8")
    looked_up = threading.Event()

    def resolve(host: str, port: int, type: int = 0) -> list[tuple]:  # noqa: A002
        looked_up.set()  # the add has started; it takes the lock after its host lookups
        return public(host, port)

    result: list[object] = []
    with edit_lock(shipped):
        adder = threading.Thread(
            target=lambda: result.append(merge_sources(shipped, [feed(5)], False, resolve))
        )
        adder.start()
        assert looked_up.wait(30)
        shipped.write_text(before.replace("ui_refresh: 10 ", "ui_refresh: 7  "), encoding="utf-8")
    adder.join(30)
    assert not adder.is_alive() and result
    config = load_config(shipped).config
    assert config.ui_refresh == 7
    assert config.sources[-1].url == feed(5).url


def test_the_lock_is_exclusive_across_processes(shipped: Path) -> None:
    """flock from another process conflicts with ours (and is released when it exits)."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path;"
            "from reportwatch.config.sources_edit import edit_lock\n"
            "with edit_lock(Path(sys.argv[1])):\n"
            "    print('locked', flush=True); sys.stdin.readline()",
            str(shipped),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(MergeError, match="another edit is in progress"):
            merge_sources(shipped, [feed(6)], False, public, lock_timeout=0.2)
        holder.communicate("done\n", timeout=60)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert merge_sources(shipped, [feed(6)], False, public)[0].status == "new"
