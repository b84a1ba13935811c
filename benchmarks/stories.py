"""Story assignment on one core: reportwatch.match.similar.StoryIndex, and its quality.

Run:  .venv/bin/python benchmarks/stories.py [--load 100000] [--new 100000]

Headlines: the shared archive (REPORTWATCH_SHARED or ../shared, news/headlines-2021-2025.jsonl.gz,
131k real Chinese tech/business headlines) when it is there, else synthetic headlines recombined
from the titles of tests/data/same_story_pairs.jsonl (the output says which). The archive is
kept in date order, so the reports of one event by several outlets stay close in time, and is
laid out at an even rate: --load stories over 30 days, then --new entries over the next 30.

Prints, beside the targets:
  1. add_many of the --load stories: seconds and the memory the index takes (RSS growth);
  2. find + add of each --new entry (prune to 30 days once a simulated day, as a poller would):
     entries/s in CPU time (the dev machine is shared; its wall clock is printed too), overall
     and for the best 10k-entry chunk, and what an entry costs where (preparing the headline,
     ranking its shingles, candidates, verification);
  3. quality on tests/data/same_story_pairs.jsonl (unsure pairs left out): same_event with
     the shipped thresholds, the threshold choice in-sample and 5-fold cross-validated (chosen
     on 4 folds by the same rule, scored on the 5th; five shuffles), the StoryIndex path (a
     fresh index per pair: add a at its date, find b at its date, so the window counts), and
     the pairs placed inside the loaded index (the candidate step's misses among 100k stories);
  4. datasketch MinHash + MinHashLSH per entry, for comparison, when it is installed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reportwatch.match import similar as S  # noqa: E402

TARGET = 20_000  # entries/s, find + add
TARGET_PRECISION, TARGET_RECALL = 0.95, 0.85
SELECT_PRECISION = 0.96  # the threshold rule: most recall with at least this precision
PAIRS = ROOT / "tests/data/same_story_pairs.jsonl"
SHARED = Path(os.environ.get("REPORTWATCH_SHARED", ROOT.parent / "shared"))
ARCHIVE = SHARED / "news/headlines-2021-2025.jsonl.gz"
START = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
GRID = [
    (j, c)
    for j in (0.25, 0.28, 0.30, 0.33, 0.35, 0.38, 0.40, 0.45, 0.50, 0.60)
    for c in (0.45, 0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80, 0.90)
]


# --- headlines -------------------------------------------------------------------------------


def archive_headlines() -> list[str]:
    with gzip.open(ARCHIVE, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    rows.sort(key=lambda r: r["date"])  # stable: the archive's order within a day
    return [r["title"] for r in rows]


def synthetic_headlines(n: int, seed: int = 5) -> list[str]:
    """Headlines recombined from the labelled pairs' titles: two or three of their segments
    (split at punctuation), sometimes with another figure. Runs of related headlines stay
    together, as in a real stream."""
    rnd = random.Random(seed)
    titles = [p[side]["title"] for p in pairs() for side in ("a", "b")]
    segments = sorted({s for t in titles for s in re.split(r"[，,：:、；;｜|？?！!\s]+", t) if s})
    out: list[str] = []
    while len(out) < n:
        base = rnd.choice(titles)
        for _ in range(rnd.randint(1, 4)):  # an event and its other reports
            parts = [base] if rnd.random() < 0.3 else rnd.sample(segments, rnd.randint(2, 3))
            head = "，".join(parts)
            if rnd.random() < 0.3:
                head += f" {rnd.randint(2, 999)}亿元"
            out.append(head)
    return out[:n]


def headlines(n: int) -> tuple[list[str], str]:
    """The stream's headlines, without those of the labelled pairs (they come from the archive
    and are placed into the index on their own for the quality figures)."""
    labelled = {S.title_key(p[side]["title"]) for p in pairs() for side in ("a", "b")}
    if ARCHIVE.is_file():
        titles, origin = archive_headlines(), f"real headlines from {ARCHIVE}"
    else:
        titles, origin = synthetic_headlines(n), f"SYNTHETIC headlines ({ARCHIVE} is absent)"
    return [t for t in titles if S.title_key(t) not in labelled], origin


def stream(titles: list[str], start: int, n: int, first_id: int, step: timedelta) -> list:
    """n entries from titles[start:] (wrapping around), one every `step`."""
    return [
        (first_id + k, titles[(start + k) % len(titles)], "", START + step * (first_id + k))
        for k in range(n)
    ]


def rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- throughput ------------------------------------------------------------------------------


def assign(index: S.StoryIndex, entries: list, chunk: int) -> tuple[list, int]:
    """find + add for each entry, pruning to 30 days once a simulated day: ([(wall seconds,
    CPU seconds, entries) of each chunk], entries assigned to an earlier story)."""
    found = 0
    chunks = []
    next_prune = entries[0][3] + DAY
    for lo in range(0, len(entries), chunk):
        part = entries[lo : lo + chunk]
        wall, cpu = time.perf_counter(), time.process_time()
        for story_id, title, summary, when in part:
            if when >= next_prune:
                index.prune(when - 30 * DAY)
                next_prune = when + DAY
            if index.find(title, summary, when) is not None:
                found += 1
            index.add(story_id, title, summary, when)
        chunks.append((time.perf_counter() - wall, time.process_time() - cpu, len(part)))
    return chunks, found


def per_entry_costs(index: S.StoryIndex, entries: list, rounds: int = 3) -> dict[str, float]:
    """CPU microseconds per entry for each step, best of `rounds` (the index is not changed)."""
    queries = []
    for _, title, summary, when in entries:
        doc, ordered = S._prepare(title, summary)
        queries.append((doc, ordered, index._rarest(ordered), S._timestamp(when)))

    def best(fn: Callable[[], object]) -> float:
        times = []
        for _ in range(rounds):
            t0 = time.process_time()
            fn()
            times.append(time.process_time() - t0)
        return min(times) / len(entries) * 1e6

    def prepare() -> None:
        for _, title, summary, _ in entries:
            S._prepare(title, summary)

    def rank() -> None:
        for _, ordered, _, _ in queries:
            index._rarest(ordered)

    def candidates() -> None:
        for _, _, rarest, ts in queries:
            index._candidates(rarest, ts)

    def verify() -> None:
        stories = index._docs
        for doc, ordered, rarest, ts in queries:
            shingles = frozenset(ordered)
            for story_id, _ in index._candidates(rarest, ts):
                S._score(stories[story_id], doc, shingles)

    costs = {"prepare": best(prepare), "rank": best(rank), "candidates": best(candidates)}
    costs["verify"] = best(verify) - costs["candidates"]
    return costs


def datasketch_rate(titles: Sequence[str], n: int = 5000) -> str:
    try:
        from datasketch import MinHash, MinHashLSH
    except ImportError:
        return "datasketch is not installed (pip install datasketch to compare)"
    docs = [S._prepare(t)[1] for t in titles[:n]]
    lsh = MinHashLSH(threshold=S.JACCARD, num_perm=64)
    t0 = time.perf_counter()
    for k, shingles in enumerate(docs):
        m = MinHash(num_perm=64)
        m.update_batch([s.encode() for s in shingles])
        lsh.query(m)
        lsh.insert(k, m)
    rate = len(docs) / (time.perf_counter() - t0)
    return (
        f"{rate:,.0f} entries/s for MinHash(num_perm=64) + MinHashLSH query + insert alone "
        "(shingles given; no verification), against the target of "
        f"{TARGET:,} for the whole assignment"
    )


# --- quality ---------------------------------------------------------------------------------


def pairs() -> list[dict]:
    with open(PAIRS, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def precision_recall(predicted: Sequence[bool], labels: Sequence[bool]) -> tuple[float, float]:
    tp = sum(p and y for p, y in zip(predicted, labels, strict=True))
    called = sum(predicted)
    return (tp / called if called else 1.0), tp / sum(labels)


def grid_predictions(docs: list) -> dict[tuple[float, float], list[bool]]:
    """same_event's verdict on every pair for each (Jaccard, containment) threshold pair."""
    shipped = S.JACCARD, S.CONTAINMENT
    out = {}
    try:
        for j, c in GRID:
            S.JACCARD, S.CONTAINMENT = j, c
            out[(j, c)] = [S._score(a, b, shingles) is not None for a, b, shingles in docs]
    finally:
        S.JACCARD, S.CONTAINMENT = shipped
    return out


def choose(preds: dict, labels: list[bool], rows: Sequence[int]) -> tuple[float, float]:
    """Most recall with precision >= SELECT_PRECISION on these rows (else most precision)."""

    def key(g: tuple[float, float]) -> tuple:
        p, r = precision_recall([preds[g][i] for i in rows], [labels[i] for i in rows])
        return (p >= SELECT_PRECISION, r if p >= SELECT_PRECISION else p, p, -g[0], -g[1])

    return max(preds, key=key)


def cross_validate(preds: dict, labels: list[bool], seed: int) -> tuple[float, float, list]:
    order = list(range(len(labels)))
    random.Random(seed).shuffle(order)
    folds = [order[k::5] for k in range(5)]
    verdict = [False] * len(labels)
    chosen = []
    for k, held_out in enumerate(folds):
        train = [i for f, fold in enumerate(folds) if f != k for i in fold]
        g = choose(preds, labels, train)
        chosen.append(g)
        for i in held_out:
            verdict[i] = preds[g][i]
    return *precision_recall(verdict, labels), chosen


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def index_path(labelled: list[dict]) -> list[bool]:
    """A fresh index per pair: add a at its date, find b at its date."""
    out = []
    for p in labelled:
        index = S.StoryIndex()
        a, b = p["a"], p["b"]
        index.add(1, a["title"], a["summary"], day(a["date"]))
        out.append(index.find(b["title"], b["summary"], day(b["date"])) == 1)
    return out


def inside_loaded(index: S.StoryIndex, labelled: list[dict], at: datetime) -> tuple[list, list]:
    """Each pair placed in the loaded index in turn (a at `at`, b as many days later as in the
    pair; a is discarded after): (a among b's candidates and verified, find(b) returned a)."""
    verified, found = [], []
    for k, p in enumerate(labelled):
        a, b = p["a"], p["b"]
        a_id, when_b = -1 - k, at + (day(b["date"]) - day(a["date"]))
        index.add(a_id, a["title"], a["summary"], at)
        candidate = a_id in index.candidates(b["title"], b["summary"], when_b)
        verified.append(
            candidate and S.same_event(a["title"], a["summary"], b["title"], b["summary"])
        )
        found.append(index.find(b["title"], b["summary"], when_b) == a_id)
        index.discard(a_id)
    return verified, found


def report_quality(index: S.StoryIndex | None, at: datetime) -> None:
    everything = pairs()
    labelled = [p for p in everything if not p["unsure"]]
    labels = [bool(p["same"]) for p in labelled]
    docs = []
    for p in labelled:
        b, b_shingles = S._prepare(p["b"]["title"], p["b"]["summary"])
        docs.append((S._prepare(p["a"]["title"], p["a"]["summary"])[0], b, frozenset(b_shingles)))
    preds = grid_predictions(docs)
    print(
        f"\nquality on {PAIRS.name}: {len(labelled)} labelled pairs ({sum(labels)} same), "
        f"{len(everything) - len(labelled)} unsure pairs left out; targets: precision >= "
        f"{TARGET_PRECISION}, recall >= {TARGET_RECALL}"
    )

    def line(name: str, p: float, r: float) -> None:
        ok = "ok" if p >= TARGET_PRECISION and r >= TARGET_RECALL else "BELOW TARGET"
        print(f"  {name:58s} precision {p:.3f}  recall {r:.3f}  ({ok})")

    shipped = (S.JACCARD, S.CONTAINMENT)
    line(
        f"same_event, shipped thresholds J={shipped[0]} C={shipped[1]}",
        *precision_recall(preds[shipped], labels),
    )
    g = choose(preds, labels, range(len(labels)))
    line(
        f"  in-sample choice (precision >= {SELECT_PRECISION}): J={g[0]} C={g[1]}",
        *precision_recall(preds[g], labels),
    )
    cv = [cross_validate(preds, labels, seed) for seed in range(1, 6)]
    for seed, (p, r, chosen) in enumerate(cv, 1):
        picks = ", ".join(f"{j}/{c}" for j, c in chosen)
        print(f"    5-fold CV, shuffle {seed}: precision {p:.3f}  recall {r:.3f}  (J/C: {picks})")
    line(
        "  5-fold CV, mean of the 5 shuffles",
        statistics.mean(x[0] for x in cv),
        statistics.mean(x[1] for x in cv),
    )
    line(
        "StoryIndex: fresh index per pair (a, then find b)",
        *precision_recall(index_path(labelled), labels),
    )
    if index is not None:
        verified, found = inside_loaded(index, labelled, at)
        line(
            f"StoryIndex among {len(index):,} stories: candidate + verified",
            *precision_recall(verified, labels),
        )
        line("StoryIndex among them: find(b) returned a", *precision_recall(found, labels))
        alone = preds[shipped]
        missed = sum(s and not v for s, v in zip(alone, verified, strict=True))
        print(
            f"  candidate step: of the {sum(alone)} pairs same_event accepts, {missed} were not "
            "among b's candidates"
        )
    unsure = [p for p in everything if p["unsure"]]
    merged = sum(
        S.same_event(p["a"]["title"], p["a"]["summary"], p["b"]["title"], p["b"]["summary"])
        for p in unsure
    )
    print(f"  unsure pairs (not scored): same_event merges {merged} of {len(unsure)}")


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--load", type=int, default=100_000)
    ap.add_argument("--new", type=int, default=100_000)
    ap.add_argument("--chunk", type=int, default=10_000)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    titles, origin = headlines(args.load + args.new)
    step = 30 * DAY / args.load
    loaded = stream(titles, 0, args.load, 0, step)
    new = stream(titles, args.load, args.new, args.load, step)
    print(f"python {sys.version.split()[0]}, {origin}")
    print(
        f"{args.load:,} stories over 30 days, then {args.new:,} new entries over the next "
        f"{args.new * step / DAY:.0f} days; window {S.WINDOW.total_seconds() / 3600:.0f} h"
    )

    index = S.StoryIndex()
    before = rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    index.add_many(loaded)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"\nadd_many: {args.load:,} stories in {wall:.2f} s ({cpu:.2f} s CPU, "
        f"{args.load / cpu:,.0f} stories/s); index memory ~{rss_mb() - before:,.0f} MB (RSS growth)"
    )

    costs = per_entry_costs(index, new[: min(len(new), 20_000)])
    chunks, found = assign(index, new, args.chunk)
    walls, cpus = sum(c[0] for c in chunks), sum(c[1] for c in chunks)
    rows = [
        ("find + add, all entries, CPU time (prune daily)", len(new) / cpus),
        ("find + add, all entries, wall-clock time", len(new) / walls),
        (
            f"find + add, best {args.chunk:,}-entry chunk, CPU time",
            max(n / c for _, c, n in chunks),
        ),
    ]
    print(f"\n{'measurement':52s} {'entries/s':>12s}   target")
    for name, rate in rows:
        mark = "ok" if rate >= TARGET else "below"
        print(f"{name:52s} {rate:12,.0f}   >= {TARGET:,} entries/s ({mark})")
    print(
        f"chunks, CPU entries/s: {', '.join(f'{n / c:,.0f}' for _, c, n in chunks)}\n"
        f"per entry (CPU us, best of 3, on the loaded index): prepare {costs['prepare']:.1f}, "
        f"rank shingles {costs['rank']:.1f}, candidates {costs['candidates']:.1f}, "
        f"verification {costs['verify']:.1f}; the rest is add and the prune\n"
        f"{found:,} of {len(new):,} entries were assigned to an earlier story; "
        f"the index holds {len(index):,}"
    )
    print(f"\ndatasketch: {datasketch_rate(titles)}")
    report_quality(index, new[-1][3] - 10 * DAY)


if __name__ == "__main__":
    main()
