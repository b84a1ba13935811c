"""Sources added from the UI: URL checks (no private hosts) and comment-preserving merges."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
import yaml

from reportwatch.config.opml import OpmlFeed
from reportwatch.config.settings import load_config, parse_config
from reportwatch.config.sources_edit import MergeError, merge_sources, plan
from reportwatch.config.yamledit import append_sources
from reportwatch.urls import check_url
from tests.helpers import ROOT


def public(host: str, port: int, type: int = 0) -> list[tuple]:  # noqa: A002 - getaddrinfo's name
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]


def resolves_to(*addresses: str):
    def resolve(host: str, port: int, type: int = 0) -> list[tuple]:  # noqa: A002
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, 1, 6, "", (a, port))
                for a in addresses]  # fmt: skip

    return resolve


def test_loopback_is_refused_unless_allowed() -> None:
    # The real resolver: tests run on 127.0.0.1, so this is the local case for real.
    assert check_url("http://127.0.0.1:8080/feed.xml", False)[0] == "refuse_private"
    assert check_url("http://localhost/feed.xml", False)[0] == "refuse_private"
    assert check_url("http://127.0.0.1:8080/feed.xml", True) is None


@pytest.mark.parametrize(
    "addresses",
    [("10.0.0.5",), ("192.168.1.1",), ("169.254.169.254",), ("::1",), ("::ffff:127.0.0.1",),
     ("fd00::1",), ("93.184.216.34", "10.0.0.1"), ("0.0.0.0",), ("224.0.0.1",)],
)  # fmt: skip
def test_private_addresses_are_refused(addresses: tuple[str, ...]) -> None:
    refusal = check_url("https://feeds.example/rss", False, resolves_to(*addresses))
    assert refusal is not None and refusal[0] == "refuse_private"


def test_public_and_malformed_urls() -> None:
    assert check_url("https://feeds.example/rss", False, public) is None
    assert check_url("file:///etc/passwd", True)[0] == "refuse_scheme"
    assert check_url("javascript:alert(1)", True)[0] == "refuse_scheme"
    assert check_url("ftp://x.example/", True)[0] == "refuse_scheme"
    assert check_url("http:///nohost", True)[0] == "refuse_bad_url"
    assert check_url("http://x.example:99999/", True)[0] == "refuse_bad_url"

    def fails(*args: object, **kwargs: object) -> list[tuple]:
        raise socket.gaierror("no network")

    assert check_url("https://feeds.example/rss", False, fails)[0] == "refuse_unresolved"


def test_plan_marks_duplicates_and_refusals() -> None:
    feeds = [
        OpmlFeed("a", "https://a.example/rss"),
        OpmlFeed("b", "https://A.example/rss/"),  # the same feed as a
        OpmlFeed("c", "https://known.example/feed"),
        OpmlFeed("d", "http://127.0.0.1/x"),
    ]
    verdicts = plan(feeds, ["https://known.example/feed"], False, public_except_loopback)
    assert [v.status for v in verdicts] == ["new", "duplicate", "duplicate", "refused"]


def public_except_loopback(host: str, port: int, type: int = 0) -> list[tuple]:  # noqa: A002
    return resolves_to("127.0.0.1")(host, port) if host == "127.0.0.1" else public(host, port)


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    """A copy of the real, heavily commented sources.yaml."""
    path = tmp_path / "sources.yaml"
    shutil.copy(ROOT / "sources.yaml", path)
    return path


def test_merge_keeps_every_byte_of_the_file_and_adds_sources(shipped: Path) -> None:
    before = shipped.read_text(encoding="utf-8")
    feeds = [
        OpmlFeed("新源: #不是注释", "https://new.example/rss"),  # YAML-special characters
        OpmlFeed("虎嗅", "https://other.example/rss"),  # a name already used
        OpmlFeed("dup", "https://www.huxiu.com/rss/0.xml"),  # a URL already configured
        OpmlFeed("local", "http://127.0.0.1:1/feed"),
    ]
    verdicts = merge_sources(shipped, feeds, False, public_except_loopback)
    assert [v.status for v in verdicts] == ["new", "new", "duplicate", "refused"]
    assert [v.name for v in verdicts[:2]] == ["新源: #不是注释", "虎嗅 (2)"]
    after = shipped.read_text(encoding="utf-8")
    # Only lines were added; every comment and hand-wrapped list is exactly as it was.
    kept = [line for line in after.splitlines() if line in before.splitlines()]
    assert kept == before.splitlines()
    assert len(after.splitlines()) == len(before.splitlines()) + 6  # name, url, origin
    config = load_config(shipped).config
    names = [s.name for s in config.sources]
    assert names[-2:] == ["新源: #不是注释", "虎嗅 (2)"]
    listed = yaml.safe_load(after)["sources"]
    assert [s.get("origin") for s in listed[-2:]] == ["ui", "ui"]  # added from the UI
    assert all("origin" not in s for s in listed[:-2])  # the analyst's own are not marked
    assert config.sources[-1].url == "https://other.example/rss"
    assert after.index("https://other.example/rss") < after.index("# Tags:")


def test_merge_with_nothing_to_add_leaves_the_file_alone(shipped: Path) -> None:
    stamp = shipped.stat().st_mtime_ns
    merge_sources(shipped, [OpmlFeed("x", "http://10.1.1.1/f")], False, resolves_to("10.1.1.1"))
    assert shipped.stat().st_mtime_ns == stamp


def test_merge_refuses_to_write_an_invalid_config(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text("poll_interval: 1  # too small: the file is already invalid\n")
    with pytest.raises(MergeError, match="poll_interval"):
        merge_sources(path, [OpmlFeed("a", "https://a.example/rss")], False, public)
    assert path.read_text() == "poll_interval: 1  # too small: the file is already invalid\n"
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [".sources.yaml.lock", "sources.yaml"]  # no temp file left (the lock stays)


@pytest.mark.parametrize(
    "text",
    [
        "# only a comment\n",
        "poll_interval: 60  # keep me\n",
        "sources: []  # flow style\n",
        "sources:\n- name: a\n  url: https://a.example/\n# trailing comment\n",
        "sources:\n    -   name: a\n        url: https://a.example/\ntags: {}\n",
        "sources:\n  - name: a\n    url: >-\n      https://a.example/\n\n# Tags\ntags: {x: {}}\n",
    ],
)
def test_append_handles_every_layout(text: str) -> None:
    new = append_sources(text, [("新", "https://n.example/rss"), ("b: c", "https://b.example/")])
    config = parse_config(new, Path("sources.yaml"))
    assert [(s.name, s.url) for s in config.sources][-2:] == [
        ("新", "https://n.example/rss"),
        ("b: c", "https://b.example/"),
    ]
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            assert line.strip() in new  # comments survive


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sources: []\n",
        "sources:\n- name: a\n  url: https://a.example/\n# trailing comment\n",
        "sources:\n    -   name: a\n        url: https://a.example/\ntags: {}\n",
    ],
)
def test_append_marks_new_sources_with_their_origin(text: str) -> None:
    new = append_sources(text, [("新", "https://n.example/rss")], origin="ui")
    listed = yaml.safe_load(new)["sources"]
    assert listed[-1] == {"name": "新", "url": "https://n.example/rss", "origin": "ui"}
    assert all("origin" not in s for s in listed[:-1])
    assert "origin" not in append_sources(text, [("新", "https://n.example/rss")])


def test_allow_private_sources_is_a_setting() -> None:
    assert parse_config("allow_private_sources: true\n", Path("s.yaml")).allow_private_sources
    assert not parse_config("", Path("s.yaml")).allow_private_sources
