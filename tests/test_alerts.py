"""Alerts (issue 17): each new matching story reaches a channel once and never twice. Feeds over
real HTTP, a real local webhook receiver (json:// through apprise; fakes of WeCom's and Feishu's
robot endpoints for our own senders), a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reportwatch.config.settings import load_config
from reportwatch.poll import alerts
from reportwatch.poll.cycle import run_cycle
from reportwatch.store.core import open_store
from tests.feedserver import FeedServer, rss
from tests.helpers import at_once, cli, json_lines, write_config
from tests.receiver import Receiver, Reply, receiver

TAGS = {"腾讯": {"any": ["腾讯"]}, "苹果": {"any": ["苹果"]}}
WHEN = "Tue, 25 Nov 2025 10:00:00 +0800"


def entry(n: int, title: str) -> dict[str, object]:
    return {"title": title, "link": f"https://news.example/{n}", "guid": f"g{n}",
            "description": "", "pubDate": WHEN}  # fmt: skip


@pytest.fixture
def box() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


def setup(feed_server: FeedServer, tmp_path: Path, box: Receiver, database_url: str,
          channel: dict[str, object] | None = None) -> Path:  # fmt: skip
    feed_server.set_feed("/f.xml", rss([entry(1, "腾讯发布旧闻")]))
    chan = channel or {"name": "分析群", "url": f"json://127.0.0.1:{box.port}/hook",
                       "tags": ["腾讯"]}  # fmt: skip
    return write_config(tmp_path, [{"name": "本地源", "url": feed_server.url("/f.xml")}],
                        tags=TAGS, database_url=database_url, notify=[chan])  # fmt: skip


def poll(config: Path) -> None:
    done = cli("poll", "--once", config=config)
    assert done.returncode == 0, done.stderr


def bodies(box: Receiver) -> list[str]:
    """The delivered messages' text (json:// puts it in "message")."""
    return [str(r.body.get("message", r.body)) for r in box.delivered]


def test_a_new_matching_story_gives_exactly_one_message_with_its_link(
    feed_server: FeedServer, tmp_path: Path, box: Receiver, database_url: str
) -> None:
    config = setup(feed_server, tmp_path, box, database_url)
    poll(config)  # the channel's first cycle: what is there is backlog, told once
    assert len(box.delivered) == 1 and "开始前已有 1 条相关报道" in bodies(box)[0]
    feed_server.set_feed("/f.xml", rss([entry(1, "腾讯发布旧闻"), entry(2, "腾讯发布新财报"),
                                        entry(3, "苹果发布新手机")]))  # fmt: skip
    poll(config)
    assert len(box.delivered) == 2
    news = bodies(box)[1]
    assert "腾讯发布新财报" in news and "https://news.example/2" in news and "#腾讯" in news
    assert "苹果" not in news  # another tag: not this channel's
    poll(config)
    poll(config)
    assert len(box.delivered) == 2  # never twice
    status = json_lines(cli("notify", "--status", config=config).stdout)
    assert status[0]["name"] == "分析群" and status[0]["pending"] == 0
    assert status[0]["kind"] == "json" and status[0]["last_sent"]
    assert str(box.port) not in json.dumps(status)  # the URL is a secret


def test_a_failed_delivery_is_kept_and_retried_until_delivered(
    feed_server: FeedServer, tmp_path: Path, box: Receiver
) -> None:
    config = setup(feed_server, tmp_path, box, "sqlite:///reportwatch.db")
    poll(config)
    box.replies = [Reply(500), Reply(500)]
    feed_server.set_feed("/f.xml", rss([entry(1, "腾讯发布旧闻"), entry(2, "腾讯发布新财报")]))
    poll(config)
    assert len(box.received) == 2 and len(box.delivered) == 1  # the backlog only
    status = json_lines(cli("notify", "--status", config=config).stdout)[0]
    assert status["pending"] == 1 and status["failing"] == 1 and "500" in status["last_error"]
    loaded = load_config(config)
    store = open_store(loaded.config.database_url)
    try:
        now = datetime.now(UTC)
        assert alerts.deliver(store, loaded, "test", now).sent == 0  # not due yet (backoff)
        second = alerts.deliver(store, loaded, "test", now + timedelta(seconds=31))
        assert second.failed == 1  # the second 500: kept again, later
        third = alerts.deliver(store, loaded, "test", now + timedelta(seconds=400))
        assert third.sent == 1
    finally:
        store.close()
    assert len(box.delivered) == 2 and "腾讯发布新财报" in bodies(box)[1]


def test_two_pollers_at_once_send_each_story_once(
    feed_server: FeedServer, tmp_path: Path, box: Receiver, database_url: str
) -> None:
    config = setup(feed_server, tmp_path, box, database_url)
    poll(config)
    news = [entry(n, f"腾讯第{n}号公告发布") for n in range(2, 9)]
    feed_server.set_feed("/f.xml", rss([entry(1, "腾讯发布旧闻"), *news]))
    for done in at_once(*[lambda: cli("poll", "--once", config=config)] * 3):
        assert done.returncode == 0, done.stderr
    texts = bodies(box)[1:]
    for n in range(2, 9):
        assert sum(f"腾讯第{n}号公告发布" in t for t in texts) == 1, texts


def test_over_the_rate_the_stories_go_out_as_one_digest_within_wecoms_byte_limit(
    feed_server: FeedServer, tmp_path: Path, box: Receiver
) -> None:
    chan = {"name": "企业微信群", "url": "wecombot://KEY-123", "endpoint": box.url("/wecom")}
    config = setup(feed_server, tmp_path, box, "sqlite:///reportwatch.db", chan)
    poll(config)
    long = "腾讯" + "很长的标题" * 90  # 452 characters: ~1,350 bytes each
    news = [entry(n, f"{long}{n}") for n in range(2, 32)]  # 30 stories > 20 a minute
    feed_server.set_feed("/f.xml", rss([entry(1, "腾讯发布旧闻"), *news]))
    poll(config)
    digests = box.delivered[1:]  # after the backlog summary
    # 30 stories over the 20-a-minute rate: digests, each within WeCom's 4,096 bytes (so
    # several, as these titles are long), every story in exactly one, none cut off.
    assert 1 < len(digests) < 30
    contents = [d.body["markdown"]["content"] for d in digests]
    assert all(d.query["key"] == ["KEY-123"] and d.body["msgtype"] == "markdown" for d in digests)
    assert all(len(c.encode("utf-8")) <= 4096 for c in contents)
    assert all("30 条新报道" in c for c in contents)
    for n in range(2, 32):
        assert sum(f"https://news.example/{n})" in c for c in contents) == 1, n


def test_wecom_429_waits_as_long_as_retry_after_says(
    feed_server: FeedServer, tmp_path: Path, box: Receiver
) -> None:
    chan = {"name": "企业微信群", "url": "wecombot://${WECOM_KEY}", "endpoint": box.url("/wecom")}
    config = setup(feed_server, tmp_path, box, "sqlite:///reportwatch.db", chan)
    loaded = load_config(config)
    store = open_store(loaded.config.database_url)
    import os

    os.environ["WECOM_KEY"] = "SECRET-KEY-9"
    try:
        run_cycle(loaded, store)
        box.replies = [Reply(429, {"errcode": 45009}, {"Retry-After": "120"})]
        feed_server.set_feed("/f.xml", rss([entry(1, "腾讯发布旧闻"), entry(2, "腾讯新闻")]))
        run_cycle(loaded, store, force=True)
        assert len(box.delivered) == 1  # the backlog; the story got the 429
        status = cli("notify", "--status", "--format", "table", config=config)
        assert "429" in status.stdout and "pending 1" in status.stdout
        now = datetime.now(UTC)
        assert alerts.deliver(store, loaded, "t", now + timedelta(seconds=90)).sent == 0
        assert alerts.deliver(store, loaded, "t", now + timedelta(seconds=125)).sent == 1
        assert box.delivered[-1].query["key"] == ["SECRET-KEY-9"]
        status = cli("notify", "--status", "--format", "table", config=config)
        assert "SECRET-KEY-9" not in status.stdout + status.stderr
        assert "429" not in status.stdout  # delivered since: the error is history
    finally:
        os.environ.pop("WECOM_KEY", None)
        store.close()


def test_feishu_signed_messages_pass_the_fakes_check(
    feed_server: FeedServer, tmp_path: Path, box: Receiver
) -> None:
    box.feishu_secret = "s3cr3t"
    chan = {"name": "飞书群", "url": "feishu://s3cr3t@TOKEN1", "endpoint": box.url("/feishu")}
    config = setup(feed_server, tmp_path, box, "sqlite:///reportwatch.db", chan)
    done = cli("notify", "--test", "飞书群", config=config)
    assert done.returncode == 0, done.stderr
    assert box.delivered[-1].path == "/feishu/TOKEN1"
    assert "可以送达" in box.delivered[-1].body["content"]["text"]
    box.feishu_secret = "another"  # a wrong secret is refused by the fake, and reported
    done = cli("notify", "--test", "飞书群", config=config)
    assert done.returncode == 1 and "Feishu code 19021" in done.stderr
    assert "s3cr3t" not in done.stderr and "TOKEN1" not in done.stderr


def test_feed_text_cannot_format_mention_or_link_in_the_chat(
    feed_server: FeedServer, tmp_path: Path, box: Receiver
) -> None:
    chan = {"name": "企业微信群", "url": "wecombot://K", "endpoint": box.url("/wecom")}
    config = setup(feed_server, tmp_path, box, "sqlite:///reportwatch.db", chan)
    poll(config)
    hostile = {**entry(2, "腾讯 @all [点我](https://evil.example) **粗** <at user_id=\"all\">"),
               "link": "javascript:alert(1)"}  # fmt: skip
    feed_server.set_feed("/f.xml", rss([entry(1, "腾讯发布旧闻"), hostile]))
    poll(config)
    content = box.delivered[-1].body["markdown"]["content"]
    assert "@all" not in content and "@\u2060all" in content
    assert "](https://evil.example)" not in content and "［点我］" in content
    assert "https://evil.example" not in content  # not even a bare link a chat could open
    assert "**粗**" not in content and "javascript" not in content
    assert "<at" not in content


def test_notify_test_and_check_config(
    feed_server: FeedServer, tmp_path: Path, box: Receiver
) -> None:
    config = setup(feed_server, tmp_path, box, "sqlite:///reportwatch.db")
    done = cli("notify", "--test", "分析群", config=config)
    assert done.returncode == 0, done.stderr
    assert "可以送达" in bodies(box)[-1]
    missing = cli("notify", "--test", "没有的群", config=config)
    assert missing.returncode == 1 and "分析群" in missing.stderr
    assert cli("check-config", str(config)).returncode == 0
    bad = write_config(tmp_path, [], tags=TAGS, notify=[
        {"name": "群", "url": "wecombot://${NOT_SET_ANYWHERE}"},
        {"name": "群2", "url": "nosuchscheme://x"},
    ])  # fmt: skip
    done = cli("check-config", str(bad))
    assert done.returncode == 2
    assert "NOT_SET_ANYWHERE" in done.stderr and "nosuchscheme" in done.stderr


def test_the_sources_page_shows_each_channel_and_editors_send_a_test(
    feed_server: FeedServer, tmp_path: Path, box: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    from reportwatch.config.editors import add_editor
    from tests.helpers import ROOT
    from tests.test_auth import EDITOR, PASSWORD, sign_in_form

    config = setup(feed_server, tmp_path, box, "sqlite:///reportwatch.db")
    poll(config)
    monkeypatch.setenv("REPORTWATCH_EMBEDDED_POLLER", "0")
    monkeypatch.delenv("REPORTWATCH_DATABASE_URL", raising=False)
    monkeypatch.setenv("REPORTWATCH_CONFIG", str(config))
    app = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=30).run()
    app.switch_page("pages/sources.py").run()
    assert not app.exception, [e.value for e in app.exception]
    frames = [d.value for d in app.dataframe]
    channels = next(f for f in frames if "kind" in getattr(f, "columns", []))
    assert list(channels["name"]) == ["分析群"] and list(channels["kind"]) == ["json"]
    assert str(box.port) not in channels.to_string()  # never the URL
    assert "notify_test" not in {b.key for b in app.button}  # viewers do not send
    add_editor(config, EDITOR, PASSWORD)
    app.run()
    app = sign_in_form(app, EDITOR, PASSWORD)
    app.button(key="notify_test").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert any("测试消息已送达" in s.value for s in app.success)
    assert "可以送达" in bodies(box)[-1]


def test_a_poller_killed_mid_delivery_repeats_at_most_that_one_message(
    feed_server: FeedServer, tmp_path: Path, box: Receiver
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import threading

    from tests.helpers import ROOT

    config = setup(feed_server, tmp_path, box, "sqlite:///reportwatch.db")
    poll(config)
    news = [entry(n, f"腾讯第{n}号公告发布") for n in range(2, 6)]
    feed_server.set_feed("/f.xml", rss([entry(1, "腾讯发布旧闻"), *news]))
    hold, arrived = threading.Event(), threading.Event()
    box.replies = [Reply(hold=hold, arrived=arrived)]
    poller = subprocess.Popen(
        [sys.executable, "-m", "reportwatch.cli", "poll", "--once", "--config", str(config)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert arrived.wait(60), "the poller never started delivering"
        os.kill(poller.pid, signal.SIGKILL)  # between sending and marking the first story
        poller.wait(30)
    finally:
        hold.set()
        if poller.poll() is None:
            poller.kill()
    loaded = load_config(config)
    store = open_store(loaded.config.database_url)
    try:  # after the dead poller's lease (2 min), another one takes its rows
        now = datetime.now(UTC)
        assert alerts.deliver(store, loaded, "other", now + timedelta(seconds=30)).sent == 0
        later = alerts.deliver(store, loaded, "other", now + timedelta(minutes=3))
        assert later.failed == 0
    finally:
        store.close()
    texts = [str(r.body.get("message", "")) for r in box.received[1:]]
    counts = [sum(f"腾讯第{n}号公告发布" in t for t in texts) for n in range(2, 6)]
    assert all(c >= 1 for c in counts), counts  # nothing lost
    assert sum(c - 1 for c in counts) <= 1, counts  # at most the one in flight repeated


def test_a_digest_channel_sends_one_message_per_period(
    feed_server: FeedServer, tmp_path: Path, box: Receiver
) -> None:
    chan = {"name": "日报群", "url": f"json://127.0.0.1:{box.port}/hook", "mode": "digest",
            "digest_every": 3600}  # fmt: skip
    config = setup(feed_server, tmp_path, box, "sqlite:///reportwatch.db", chan)
    poll(config)  # backlog summary
    feed_server.set_feed("/f.xml", rss([entry(1, "腾讯发布旧闻"), entry(2, "腾讯新闻甲"),
                                        entry(3, "苹果新闻乙")]))  # fmt: skip
    poll(config)
    assert len(box.delivered) == 2  # the digest: 甲 (a report's tag; 苹果 is in no report)
    assert "1 条新报道" in bodies(box)[1] and "摘要" in bodies(box)[1]
    assert "腾讯新闻甲" in bodies(box)[1] and "苹果新闻乙" not in bodies(box)[1]
    titles = ["腾讯发布旧闻", "腾讯新闻甲", "苹果新闻乙", "腾讯新闻丙"]
    feed_server.set_feed("/f.xml", rss([entry(n, t) for n, t in enumerate(titles, 1)]))
    poll(config)
    assert len(box.delivered) == 2  # the next digest is due in an hour
    loaded = load_config(config)
    store = open_store(loaded.config.database_url)
    try:
        later = datetime.now(UTC) + timedelta(hours=1, minutes=1)
        assert alerts.deliver(store, loaded, "t", later).stories == 1
    finally:
        store.close()
    assert "腾讯新闻丙" in bodies(box)[2]


def test_a_story_that_gains_a_watched_tag_later_is_announced_then_once(
    feed_server: FeedServer, tmp_path: Path, box: Receiver, database_url: str
) -> None:
    config = setup(feed_server, tmp_path, box, database_url)
    poll(config)
    feed_server.set_feed("/f.xml", rss([entry(1, "腾讯发布旧闻"), entry(2, "微信上线新功能")]))
    poll(config)
    assert len(box.delivered) == 1  # 微信… has no 腾讯 tag under these rules: nothing
    tags = {**TAGS, "腾讯": {"any": ["腾讯", "微信"]}}  # the rule now covers it
    chan = {"name": "分析群", "url": f"json://127.0.0.1:{box.port}/hook", "tags": ["腾讯"]}
    write_config(tmp_path, [{"name": "本地源", "url": feed_server.url("/f.xml")}],
                 tags=tags, database_url=database_url, notify=[chan])  # fmt: skip
    poll(config)
    assert len(box.delivered) == 2 and "微信上线新功能" in bodies(box)[1]
    poll(config)
    assert len(box.delivered) == 2


def test_a_hung_receiver_costs_one_timeout_per_channel_not_one_per_story(
    feed_server: FeedServer, tmp_path: Path, box: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from reportwatch.notify import send as sender

    chan = {"name": "企业微信群", "url": "wecombot://K", "endpoint": box.url("/wecom")}
    config = setup(feed_server, tmp_path, box, "sqlite:///reportwatch.db", chan)
    poll(config)
    news = [entry(n, f"腾讯第{n}号公告发布") for n in range(2, 7)]
    feed_server.set_feed("/f.xml", rss([entry(1, "腾讯发布旧闻"), *news]))
    monkeypatch.setattr(sender, "TIMEOUT", 1)
    hold = threading.Event()
    box.replies = [Reply(hold=hold) for _ in range(5)]
    loaded = load_config(config)
    store = open_store(loaded.config.database_url)
    try:
        report = run_cycle(loaded, store, force=True)
        assert report.alerts is not None and report.alerts.failed == 1
        assert len(box.received) == 2  # the backlog and one story: then the channel waits
        status = store.channel_status(["企业微信群"])[0]
        assert status.pending == 5 and status.last_error
    finally:
        hold.set()
        store.close()


def test_apprise_never_prints_the_url_secrets(
    feed_server: FeedServer, tmp_path: Path, box: Receiver
) -> None:
    secret = "/hook/PathTok77?+Authorization=Bearer%20HdrTok55"  # a path token and a header
    chan = {"name": "接收器", "url": f"json://127.0.0.1:{box.port}{secret}"}
    config = setup(feed_server, tmp_path, box, "sqlite:///reportwatch.db", chan)
    for args in (["poll", "--once"], ["poll", "--once"], ["notify", "--test", "接收器"]):
        done = cli(*args, config=config)
        assert done.returncode == 0, done.stderr
        assert "HdrTok55" not in done.stderr + done.stdout and "PathTok77" not in done.stderr
    assert box.delivered and box.delivered[0].headers.get("Authorization") == "Bearer HdrTok55"
    bad = write_config(tmp_path, [], tags=TAGS, notify=[
        {"name": "群", "url": "notaschema://SecretXyz/abc"},
        {"name": "群2", "url": "feishu://sec@"},
        {"name": "群3", "url": f"json://127.0.0.1:{box.port}/h", "tags": ["不存在的标签"]},
    ])  # fmt: skip
    done = cli("check-config", str(bad))
    assert done.returncode == 2 and "SecretXyz" not in done.stderr + done.stdout
    assert "notaschema" in done.stderr and "needs the robot's token" in done.stderr
    assert "不存在的标签" in done.stderr


def test_stories_stored_while_a_channel_was_out_of_the_config_are_sent_when_it_is_back(
    feed_server: FeedServer, tmp_path: Path, box: Receiver
) -> None:
    config = setup(feed_server, tmp_path, box, "sqlite:///reportwatch.db")
    poll(config)
    source = [{"name": "本地源", "url": feed_server.url("/f.xml")}]
    write_config(tmp_path, source, tags=TAGS)  # the channel taken out
    feed_server.set_feed("/f.xml", rss([entry(1, "腾讯发布旧闻"), entry(2, "腾讯新闻甲")]))
    poll(config)
    setup(feed_server, tmp_path, box, "sqlite:///reportwatch.db")  # and back
    feed_server.set_feed("/f.xml", rss([entry(1, "腾讯发布旧闻"), entry(2, "腾讯新闻甲"),
                                        entry(3, "腾讯新闻乙")]))  # fmt: skip
    poll(config)
    texts = bodies(box)
    assert sum("腾讯新闻甲" in t for t in texts) == 1 and sum("腾讯新闻乙" in t for t in texts) == 1


def test_a_poller_whose_lease_ran_out_does_not_send_the_rows_another_took(
    feed_server: FeedServer, tmp_path: Path, box: Receiver
) -> None:
    config = setup(feed_server, tmp_path, box, "sqlite:///reportwatch.db")
    poll(config)
    feed_server.set_feed("/f.xml", rss([entry(1, "腾讯发布旧闻"), entry(2, "腾讯新闻甲")]))
    loaded = load_config(config)
    store = open_store(loaded.config.database_url)
    try:
        run_cycle(loaded, store, force=True, owner="slow")  # delivers at its end: sent once
        assert sum("腾讯新闻甲" in t for t in bodies(box)) == 1
        feed_server.set_feed("/f.xml", rss([entry(1, "腾讯发布旧闻"), entry(3, "腾讯新闻乙")]))
        from reportwatch.poll import cycle

        original = alerts.deliver
        alerts.deliver = lambda *a, **k: alerts.Delivery()  # "slow" stores, then stalls
        try:
            cycle.run_cycle(loaded, store, force=True, owner="slow")
        finally:
            alerts.deliver = original
        now = datetime.now(UTC)
        mine = store.claim_outbox("slow", now, timedelta(seconds=1))
        assert [r.story_id for r in mine]  # "slow" holds the new story's row …
        later = now + timedelta(minutes=5)  # … its lease runs out; "fast" takes and sends it
        assert alerts.deliver(store, loaded, "fast", later).sent == 1
        assert not store.outbox_renew([r.id for r in mine], "slow", later)  # so "slow" won't
    finally:
        store.close()
    assert sum("腾讯新闻乙" in t for t in bodies(box)) == 1


def test_a_story_judged_not_relevant_before_it_arrived_is_not_announced(
    feed_server: FeedServer, tmp_path: Path, box: Receiver
) -> None:
    config = setup(feed_server, tmp_path, box, "sqlite:///reportwatch.db")
    poll(config)
    verdict = {"link": "https://news.example/2", "tag": "腾讯", "relevant": False,
               "title": "腾讯无关的广告稿"}  # fmt: skip
    path = tmp_path / "v.jsonl"
    path.write_text(json.dumps(verdict, ensure_ascii=False), "utf-8")
    assert cli("feedback", "import", str(path), config=config).returncode == 0
    feed_server.set_feed("/f.xml", rss([entry(1, "腾讯发布旧闻"), entry(2, "腾讯无关的广告稿"),
                                        entry(3, "腾讯发布新财报")]))  # fmt: skip
    poll(config)
    texts = bodies(box)[1:]
    assert len(texts) == 1 and "腾讯发布新财报" in texts[0]  # not the judged one
