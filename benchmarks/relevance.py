"""Learned relevance (issue 16): quality with 300 labels of feedback, scoring speed, retraining.

Run:  .venv/bin/python benchmarks/relevance.py [--rounds 5]

Prints, beside the targets:
  1. F1 on real headlines (tests/data/relevance/labels.jsonl) when 300 labelled stories are the
     feedback and the others are the test: the shipped rules alone, the model alone, and both
     (the model decides among the items its gate admits), per tag, mean over --rounds random
     splits; the model kinds compared on the same splits (logistic regression, linear SVM,
     NB-SVM, and gradient boosting on the same features, which has no linear form to ship);
  2. scoring: gated candidates per second on one core (CPU time), with the shipped matcher;
  3. retraining on 5,000 labels (real headlines, labelled by the rules: timing only), the
     import of scikit-learn apart.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reportwatch.config.settings import load_config  # noqa: E402
from reportwatch.match import evaluate as ev  # noqa: E402
from reportwatch.match.learned import LearnedMatcher, features, grams  # noqa: E402
from reportwatch.match.matcher import compile_rules, normalise  # noqa: E402
from reportwatch.poll.learn import gates  # noqa: E402

LABELS = ROOT / "tests/data/relevance/labels.jsonl"
SHARED = Path(os.environ.get("REPORTWATCH_SHARED", ROOT.parent / "shared"))
ARCHIVE = SHARED / "news/headlines-2021-2025.jsonl.gz"
TARGET_F1 = {"腾讯": 0.90, "微信电商": 0.80, "视频号电商": 0.80}
TARGET_SCORING = 20_000  # gated candidates/s
TARGET_RETRAIN = 5.0  # s for 5,000 labels
FEEDBACK = 300


def split(items: list[ev.Labelled], seed: int) -> tuple[list[ev.Labelled], list[ev.Labelled]]:
    shuffled = items[:]
    random.Random(seed).shuffle(shuffled)
    return shuffled[:FEEDBACK], shuffled[FEEDBACK:]


def quality(items: list[ev.Labelled], rules, gate, rounds: int) -> None:
    print(
        f"1. F1 with {FEEDBACK} labelled stories of feedback, tested on the other "
        f"{len(items) - FEEDBACK} real headlines (mean of {rounds} random splits)"
    )
    found = {id(i): rules.match(i.title, i.summary) for i in items}
    kinds = ("logreg", "svm", "nbsvm")
    print(
        f"   {'tag':<10}{'relevant':>9}  {'rules':>6} {'model':>6} {'both':>6}   target"
        f"   kinds (both): " + " ".join(kinds) + " gbm(model)"
    )
    for tag in ("腾讯", "微信电商", "视频号电商"):
        scores: dict[str, list[float]] = {}
        for seed in range(1, rounds + 1):
            train, test = split([i for i in items if tag in i.labels], seed)
            for kind in kinds:
                model = ev.train_model(tag, train, found, gate[tag], kind)
                for mode in ("rules", "model", "combined"):
                    s = ev.Scores()
                    for item in test:
                        s.add(ev.decide(model, found[id(item)], tag, item, mode), item.labels[tag])
                    scores.setdefault(f"{kind}/{mode}", []).append(s.f1)
            scores.setdefault("gbm", []).append(gbm_f1(tag, train, test, found))
        mean = {k: statistics.mean(v) for k, v in scores.items()}
        relevant = sum(i.labels[tag] for i in items if tag in i.labels)
        rules_f1, model_f1, both = (
            mean["logreg/rules"],
            mean["logreg/model"],
            mean["logreg/combined"],
        )
        verdict = "ok" if both >= TARGET_F1[tag] else "below"
        floor = "" if both >= rules_f1 else "  BELOW THE RULES"
        others = " ".join(f"{mean[k + '/combined']:.2f}" for k in kinds)
        note = "  (2 positives: not measurable)" if relevant < 10 else ""
        target = f">= {TARGET_F1[tag]:.2f} {verdict}{floor}"
        print(
            f"   {tag:<10}{relevant:>9}  {rules_f1:6.2f} {model_f1:6.2f} {both:6.2f}   "
            f"{target}   {others} {mean['gbm']:.2f}{note}"
        )


def gbm_f1(tag, train, test, found) -> float:
    """Gradient boosting on the same features (no gate: it is compared with "model")."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer

    labelled = [i for i in train if tag in i.labels]
    y = [i.labels[tag] for i in labelled]
    if sum(y) < 10:
        return 0.0
    vec = TfidfVectorizer(
        analyzer=lambda i: grams(i.title, i.summary, found[id(i)]),
        sublinear_tf=True,
        lowercase=False,
        min_df=2,
    )
    x = vec.fit_transform(labelled).toarray()
    clf = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(x, y)
    predicted = clf.predict(vec.transform(test).toarray())
    s = ev.Scores()
    for p, item in zip(predicted, test, strict=True):
        s.add(bool(p), item.labels[tag])
    return s.f1


def headlines(n: int, fallback: list[ev.Labelled]) -> tuple[list[str], str]:
    if ARCHIVE.is_file():
        with gzip.open(ARCHIVE, "rt", encoding="utf-8") as f:
            titles = [json.loads(line)["title"] for line in f]
        random.Random(7).shuffle(titles)
        return titles[:n], f"real headlines from {ARCHIVE}"
    titles = [i.title for i in fallback]
    return [titles[k % len(titles)] for k in range(n)], "the labelled headlines, repeated"


def scoring(items, rules, gate) -> None:
    """What a gated candidate costs: its features (n-grams and the rules' hits, once per item)
    and each model's score; and the whole matcher (rules, gates, models) per item."""
    model_items = [i for i in items if "腾讯" in i.labels]
    found = {id(i): rules.match(i.title, i.summary) for i in model_items}
    models = {
        tag: ev.train_model(tag, model_items, found, gate[tag], "logreg")
        for tag in ("腾讯", "微信电商")
    }
    matcher = LearnedMatcher(rules, {t: m for t, m in models.items() if m is not None})
    titles, origin = headlines(60_000, items)
    for t in titles[:2000]:  # warm the matcher (automata, memo)
        matcher.match(t)
    candidates = []  # (title, what the rules found, the models whose gate admits it)
    for t in titles:
        text = normalise(t) + "\n"
        admitted = [m for m in matcher.models.values() if m.gated(text)]
        if admitted:
            candidates.append((t, rules.match(t), admitted))
    pairs = sum(len(c[2]) for c in candidates)
    start = time.process_time()
    for title, got, admitted in candidates:
        feats = features(title, "", got)
        for model in admitted:
            model.score_features(feats)
    cpu = time.process_time() - start
    rate = pairs / cpu
    start = time.process_time()
    for t in titles:
        rules.match(t)
    rules_cpu = time.process_time() - start
    start = time.process_time()
    for t in titles:
        matcher.match(t)
    both_cpu = time.process_time() - start
    verdict = "ok" if rate >= TARGET_SCORING else "below"
    print(f"\n2. scoring on one core, CPU time ({len(titles):,} {origin})")
    print(
        f"   gated candidates: {pairs:,} (item, tag) pairs of {len(candidates):,} items; "
        f"features + score: {rate:,.0f}/s   target >= {TARGET_SCORING:,}/s {verdict}"
    )
    print(
        f"   every item through the matcher: rules alone {len(titles) / rules_cpu:,.0f}/s; "
        f"rules + gates + {len(matcher.models)} models {len(titles) / both_cpu:,.0f}/s"
    )


def retraining(items, rules, gate) -> None:
    titles, origin = headlines(5000, items)
    labelled = []
    for k, t in enumerate(titles):
        item = ev.Labelled(t, labels={})
        item.labels["腾讯"] = any(m.tag == "腾讯" for m in rules.match(t)) or k % 7 == 0
        labelled.append(item)
    found = {id(i): rules.match(i.title) for i in labelled}
    probe = (
        "import time; t = time.perf_counter(); "
        "import sklearn.linear_model, sklearn.feature_extraction.text; "
        "print(time.perf_counter() - t)"
    )
    imported = float(subprocess.run([sys.executable, "-c", probe], capture_output=True,
                                    text=True, check=True).stdout)  # fmt: skip
    start, cpu = time.perf_counter(), time.process_time()
    model = ev.train_model("腾讯", labelled, found, gate["腾讯"], "logreg")
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    verdict = "ok" if wall <= TARGET_RETRAIN else "over"
    size = len(model.to_json().encode()) if model else 0
    print(
        f"\n3. retraining on {len(labelled):,} labels ({origin}; labelled by the rules, "
        "for timing only)"
    )
    print(
        f"   fit {wall:.2f} s wall ({cpu:.2f} s CPU)   target <= {TARGET_RETRAIN:.0f} s {verdict}"
    )
    print(
        f"   importing scikit-learn (a new process, once): {imported:.2f} s; the stored model: "
        f"{size / 1e6:.1f} MB of JSON"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    loaded = load_config(ROOT / "sources.yaml")
    rules = compile_rules(loaded.config.rules())
    gate = gates(loaded, ["腾讯", "微信电商", "视频号电商"])
    items = ev.load_labels(LABELS)
    quality(items, rules, gate, args.rounds)
    scoring(items, rules, gate)
    retraining(items, rules, gate)


if __name__ == "__main__":
    main()
