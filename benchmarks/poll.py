"""Cold and warm `reportwatch poll --once` over N local feeds with latency, beside the limits.

    python benchmarks/poll.py [--feeds 300] [--entries 30] [--latency 0.2] [--naive 20]

Limit (cold): 1.5 × (latency + parse CPU / cores) + 1 s, process start included.
Limit (warm, every feed answers 304): 1.5 s. Naive baseline: a serial feedparser.parse(url) loop,
timed on --naive feeds and scaled to N (it is linear: one request after another).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import feedparser

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reportwatch.parse import parse_entries  # noqa: E402
from tests.feedserver import FeedServer, rss  # noqa: E402
from tests.helpers import write_config  # noqa: E402

WORDS = "腾讯 微信 视频号 小店 电商 直播 带货 服务商 平台 商家 流量 用户 增长 财报 运营".split()


def make_feed(n: int, entries: int) -> bytes:
    items = []
    for j in range(entries):
        text = " ".join(WORDS[(n + j + k) % len(WORDS)] for k in range(40))
        items.append(
            {
                "title": f"第{n}号源 第{j}条:{WORDS[j % len(WORDS)]}动态",
                "link": f"https://news.example/{n}/{j}",
                "guid": f"{n}-{j}",
                "description": f"<p>{text}</p>",
                "pubDate": "Tue, 25 Nov 2025 10:00:00 +0800",
            }
        )
    return rss(items, title=f"源 {n}")


def timed_poll(config: Path) -> tuple[float, int]:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "reportwatch.cli", "poll", "--once", "--config", str(config)],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, usage.ru_maxrss // 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=300)
    parser.add_argument("--entries", type=int, default=30)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--naive", type=int, default=20)
    args = parser.parse_args()
    cores = os.cpu_count() or 1

    bodies = [make_feed(n, args.entries) for n in range(args.feeds)]
    start = time.process_time()
    for body in bodies:
        parse_entries(body, {"content-type": "application/rss+xml; charset=utf-8"})
    parse_cpu = time.process_time() - start

    with FeedServer() as server, tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "empty").mkdir()
        for n, body in enumerate(bodies):
            server.set_feed(f"/f{n}.xml", body, delay=args.latency)
        sources = [{"name": f"f{n}", "url": server.url(f"/f{n}.xml")} for n in range(args.feeds)]
        config = write_config(
            Path(tmp), sources, tags={"腾讯": {"any": ["Tencent"]}},
            fetch={"per_host": 100, "concurrency": 100},
        )  # fmt: skip
        empty = write_config(Path(tmp) / "empty", [], tags={"腾讯": {"any": ["Tencent"]}})
        startup, _ = timed_poll(empty)
        cold, cold_rss = timed_poll(config)
        warm, _ = timed_poll(config)

        start = time.perf_counter()
        for n in range(args.naive):
            feedparser.parse(server.url(f"/f{n}.xml"))
        naive = (time.perf_counter() - start) * args.feeds / args.naive

    cold_limit = 1.5 * (args.latency + parse_cpu / cores) + 1
    print(f"feeds={args.feeds} entries={args.entries} latency={args.latency}s cores={cores}")
    print(f"parse CPU (all bodies, one core): {parse_cpu:.2f} s")
    print(f"cold cycle (process start included): {cold:.2f} s   limit {cold_limit:.2f} s   "
          f"{'OK' if cold <= cold_limit else 'OVER'}")  # fmt: skip
    print(f"warm cycle (all 304):                {warm:.2f} s   limit 1.50 s   "
          f"{'OK' if warm <= 1.5 else 'OVER'}")  # fmt: skip
    print(f"process start + exit alone (no sources): {startup:.2f} s; warm cycle without it: "
          f"{warm - startup:.2f} s")  # fmt: skip
    print(
        f"naive serial feedparser loop:        {naive:.1f} s (timed on {args.naive} feeds, scaled)"
    )
    print(f"peak RSS of the poll processes:      {cold_rss} MB   limit 300 MB")


if __name__ == "__main__":
    main()
