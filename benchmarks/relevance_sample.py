"""Draw the items of tests/data/relevance/labels.jsonl from the shared headline archive.

    python benchmarks/relevance_sample.py [--out tests/data/relevance/sample.jsonl]

The sample (fixed seed, so it can be drawn again): every item of a random 35% of the archive
that mentions WeChat, Tencent or one of their products; every item of the whole archive that
mentions a WeChat surface next to a commerce word (they are rare, and the commerce tags need
positives); and 200 random others. Written unlabelled; RUBRIC.md says how they were labelled.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("REPORTWATCH_SHARED", ROOT.parent / "shared"))
ARCHIVE = SHARED / "news/headlines-2021-2025.jsonl.gz"

TENCENT = re.compile(
    r"腾讯|微信|wechat|tencent|视频号|小程序|企业微信|公众号|朋友圈|\bQQ|王者荣耀|和平精英|元宝|混元"
    r"|财付通|微众|阅文|马化腾|张小龙|刘炽平|微视|腾讯会议|微信支付|wxg|搜狗",
    re.IGNORECASE,
)
WECHAT = re.compile(r"微信|wechat|视频号|小程序|企业微信|公众号|朋友圈|有赞|微盟|微商|私域", re.I)
COMMERCE = re.compile(r"电商|小店|带货|直播|团购|送礼|商家|商城|购物|卖货|私域|微商|下单|gmv|零售")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="relevance-sample.jsonl")
    args = ap.parse_args()
    rows = [json.loads(line) for line in gzip.open(ARCHIVE, "rt", encoding="utf-8")]
    rnd = random.Random(16)
    chosen: dict[int, str] = {}
    for i, row in enumerate(rows):
        text = row["title"] + " " + (row.get("summary") or "")
        if TENCENT.search(text) and rnd.random() < 0.35:
            chosen[i] = "mentions"
        elif WECHAT.search(text) and COMMERCE.search(text):
            chosen[i] = "wechat-commerce"
    others = [i for i in range(len(rows)) if i not in chosen]
    for i in rnd.sample(others, 200):
        chosen[i] = "random"
    with open(args.out, "w", encoding="utf-8") as f:
        for n, i in enumerate(sorted(chosen, key=lambda i: rnd.random())):
            row = rows[i]
            item = {
                "id": n,
                "why": chosen[i],
                "title": row["title"],
                "summary": (row.get("summary") or "")[:300],
                "source": row.get("source", ""),
                "date": row.get("date", ""),
                "link": row.get("url") or "",
            }
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
    print(len(chosen), "items:", {w: list(chosen.values()).count(w) for w in set(chosen.values())})


if __name__ == "__main__":
    main()
