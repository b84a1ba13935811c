"""Cold and warm `reportwatch poll --once` over N local feeds with latency, beside the limits.

    python benchmarks/poll.py [--feeds 300] [--entries 30] [--latency 0.2] [--naive 20]
                              [--rounds 3]

Limit (cold): 1.5 × (latency + parse CPU / cores) + 1 s, process start included.
Limit (warm, every feed answers 304): 1.5 s. Naive baseline: a serial feedparser.parse(url) loop,
timed on --naive feeds and scaled to N (it is linear: one request after another).

The poll processes run from compiled bytecode, as an installed package does (pip compiles what
it installs; an editable install does not, and PYTHONDONTWRITEBYTECODE, set on our machines,
stops Python writing it): the script compiles reportwatch first, like `make bytecode`.

Each round measures the parse CPU, then a cold cycle on a new database, then a warm one, so
its ratio to the limit is taken under the same machine load; the verdict is the median round
(the 2-core dev machine's parse CPU alone varied from 4.3 to 7.5 s between runs).
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
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
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cores = os.cpu_count() or 1

    compileall.compile_dir(ROOT / "reportwatch", quiet=1)  # see the docstring
    bodies = [make_feed(n, args.entries) for n in range(args.feeds)]

    def measure_parse_cpu() -> float:
        start = time.process_time()
        for body in bodies:
            parse_entries(body, {"content-type": "application/rss+xml; charset=utf-8"})
        return time.process_time() - start

    rounds = []
    with FeedServer() as server, tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "empty").mkdir()
        for n, body in enumerate(bodies):
            server.set_feed(f"/f{n}.xml", body, delay=args.latency)
        sources = [{"name": f"f{n}", "url": server.url(f"/f{n}.xml")} for n in range(args.feeds)]
        empty = write_config(Path(tmp) / "empty", [], tags={"腾讯": {"any": ["Tencent"]}})
        for r in range(args.rounds):
            folder = Path(tmp) / f"round{r}"  # a new database: the cold cycle stores everything
            folder.mkdir()
            config = write_config(
                folder, sources, tags={"腾讯": {"any": ["Tencent"]}},
                fetch={"per_host": 100, "concurrency": 100},
            )  # fmt: skip
            parse_cpu = measure_parse_cpu()
            startup, _ = timed_poll(empty)
            cold, cold_rss = timed_poll(config)
            warm, _ = timed_poll(config)
            limit = 1.5 * (args.latency + parse_cpu / cores) + 1
            rounds.append((cold / limit, parse_cpu, limit, cold, warm, startup, cold_rss))

        start = time.perf_counter()
        for n in range(args.naive):
            feedparser.parse(server.url(f"/f{n}.xml"))
        naive = (time.perf_counter() - start) * args.feeds / args.naive

    print(f"feeds={args.feeds} entries={args.entries} latency={args.latency}s cores={cores}")
    print("round  parse CPU  cold limit   cold  cold/limit   warm (limit 1.50)  start  warm-start")
    for i, (ratio, parse_cpu, limit, cold, warm, startup, _) in enumerate(rounds, 1):
        print(f"{i:5d}  {parse_cpu:8.2f}s  {limit:9.2f}s  {cold:5.2f}s  {ratio:10.2f}   "
              f"{warm:5.2f}s             {startup:5.2f}s  {warm - startup:5.2f}s")  # fmt: skip
    ratio = statistics.median(r[0] for r in rounds)
    warm = statistics.median(r[4] for r in rounds)
    cycle = statistics.median(r[4] - r[5] for r in rounds)
    print(f"cold cycle, median cold/limit:       {ratio:.2f}   {'OK' if ratio <= 1 else 'OVER'}")
    print(f"warm cycle (all 304), median:        {warm:.2f} s   limit 1.50 s   "
          f"{'OK' if warm <= 1.5 else 'OVER'} (process start included)")  # fmt: skip
    print(f"warm cycle without process start:    {cycle:.2f} s   limit 1.50 s   "
          f"{'OK' if cycle <= 1.5 else 'OVER'} (minus a poll of no sources)")  # fmt: skip
    print(
        f"naive serial feedparser loop:        {naive:.1f} s (timed on {args.naive} feeds, scaled)"
    )
    print(f"peak RSS of the poll processes:      {max(r[6] for r in rounds)} MB   limit 300 MB")


if __name__ == "__main__":
    main()
