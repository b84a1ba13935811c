"""`reportwatch evaluate LABELS.jsonl`: rules, model and both, per tag, on labelled items.

A labels file holds one JSON object per line, either an item with several tags
    {"title": "…", "summary": "…", "labels": {"腾讯": true, "微信电商": false}, "unsure": [...]}
or one verdict per line, as `reportwatch feedback export` writes it
    {"title": "…", "tag": "腾讯", "relevant": true}
(an (item, tag) listed under "unsure" is left out).

Scores are cross-validated: the items are shuffled (fixed seed) into folds; a model is trained
on all folds but one and scored on that one. The learning curve trains on the first n items
of the training folds. scikit-learn is needed (reportwatch.match.train).
"""

from __future__ import annotations

import json
import random
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .learned import MIN_EACH, TagModel
from .matcher import TagMatch, normalise

FOLDS = 5
SEED = 16
CURVE = (50, 100, 200, 300, 500)


@dataclass
class Labelled:
    title: str
    summary: str = ""
    link: str = ""
    labels: dict[str, bool] = field(default_factory=dict)


class LabelsError(ValueError):
    """A labels file that cannot be read, with the line at fault."""


def load_labels(path: Path) -> list[Labelled]:
    """The labelled items of a file; LabelsError names the first line that is not one, or says
    the file has none."""
    items: dict[str, Labelled] = {}
    order: list[Labelled] = []
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is not a label
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelsError(f"cannot read {path}: {exc}") from exc
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise LabelsError(f"{path}:{n}: not JSON ({exc})") from exc
        labels = _labels_of(row)
        if labels is None:
            raise LabelsError(
                f'{path}:{n}: not a labelled item: needs a "title" (text) and "labels" '
                '({"tag": true|false, …}) or "tag" and "relevant" (true|false)'
            )
        key = row.get("link") or row["title"]
        item = items.get(key)
        if item is None:
            summary = row.get("summary") if isinstance(row.get("summary"), str) else ""
            item = items[key] = Labelled(row["title"], summary, row.get("link") or "")
            order.append(item)
        item.labels.update(labels)
    if not any(i.labels for i in order):
        raise LabelsError(f"{path}: no labelled items")
    return order


def _labels_of(row: object) -> dict[str, bool] | None:
    """(tag → relevant) of a line, or None when the line is not a labelled item."""
    if not isinstance(row, dict) or not isinstance(row.get("title"), str):
        return None
    if not isinstance(row.get("link", ""), str | type(None)):
        return None
    unsure = row.get("unsure") or []
    if not isinstance(unsure, list) or not all(isinstance(u, str) for u in unsure):
        return None
    if "labels" in row:
        labels = row["labels"]
        if not isinstance(labels, dict) or not all(isinstance(v, bool) for v in labels.values()):
            return None
        return {str(t): v for t, v in labels.items() if t not in unsure}
    if isinstance(row.get("tag"), str) and isinstance(row.get("relevant"), bool):
        return {} if row["tag"] in unsure else {row["tag"]: row["relevant"]}
    return None


@dataclass
class Scores:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, predicted: bool, actual: bool) -> None:
        if predicted and actual:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif actual:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


class Rules(Protocol):
    def match(self, title: str, summary: str = "") -> list[TagMatch]: ...


def folds(n: int, k: int = FOLDS, seed: int = SEED) -> list[list[int]]:
    idx = list(range(n))
    random.Random(seed).shuffle(idx)
    return [idx[i::k] for i in range(k)]


def train_model(tag: str, items: Sequence[Labelled], found: dict[int, list[TagMatch]],
                gate: tuple[str, ...], kind: str, version: int = 1) -> TagModel | None:  # fmt: skip
    """A model from the items labelled for `tag` (`found`: id(item) → what the rules found);
    None with too few of a class (the rules decide)."""
    from .train import fit

    labelled = [(i, i.labels[tag]) for i in items if tag in i.labels]
    pos = sum(v for _, v in labelled)
    if pos < MIN_EACH or len(labelled) - pos < MIN_EACH:
        return None
    docs = [(i.title, i.summary, found[id(i)]) for i, _ in labelled]
    return fit(tag, docs, [v for _, v in labelled], kind=kind, gate=gate, version=version)


def decide(model: TagModel | None, found: list[TagMatch], tag: str, item: Labelled,
           mode: str) -> bool:  # fmt: skip
    """mode "rules": the rule; "model": the model on every item; "combined": the model among
    the gated items when there is one, else the rule (what LearnedMatcher does)."""
    rule_hit = any(m.tag == tag for m in found)
    if mode == "rules" or (mode == "combined" and model is None):
        return rule_hit
    if model is None:
        return False
    if mode == "combined":
        text = normalise(item.title) + "\n" + normalise(item.summary)
        if not model.gated(text):
            return False
    return model.score(item.title, item.summary, found) >= model.threshold


@dataclass
class TagReport:
    tag: str
    labelled: int
    relevant: int
    rules: Scores
    model: Scores
    combined: Scores
    curve: list[tuple[int, float, float]]  # (training labels, F1 model, F1 combined)


def evaluate_tag(tag: str, items: Sequence[Labelled], rules: Rules, gate: tuple[str, ...],
                 kind: str = "logreg", curve: Iterable[int] = CURVE,
                 k: int = FOLDS) -> TagReport:  # fmt: skip
    data = [i for i in items if tag in i.labels]
    found = {id(i): rules.match(i.title, i.summary) for i in data}
    by_rules, model_s, combined = Scores(), Scores(), Scores()
    sizes = [n for n in curve if n < len(data) * (k - 1) / k]
    curve_scores = {n: (Scores(), Scores()) for n in sizes}
    for held in folds(len(data), k):
        held_set = set(held)
        train = [data[j] for j in range(len(data)) if j not in held_set]
        test = [data[j] for j in held]
        model = train_model(tag, train, found, gate, kind)
        for item in test:
            actual, got = item.labels[tag], found[id(item)]
            by_rules.add(decide(None, got, tag, item, "rules"), actual)
            model_s.add(decide(model, got, tag, item, "model"), actual)
            combined.add(decide(model, got, tag, item, "combined"), actual)
        for n in sizes:
            small = train_model(tag, train[:n], found, gate, kind)
            for item in test:
                actual, got = item.labels[tag], found[id(item)]
                curve_scores[n][0].add(decide(small, got, tag, item, "model"), actual)
                curve_scores[n][1].add(decide(small, got, tag, item, "combined"), actual)
    points = [(n, a.f1, b.f1) for n, (a, b) in curve_scores.items()]
    relevant = sum(i.labels[tag] for i in data)
    return TagReport(tag, len(data), relevant, by_rules, model_s, combined, points)


def _pad(text: str, width: int) -> str:
    """ljust by display width: a Chinese character takes two columns."""
    shown = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(width - shown, 0)


def format_report(reports: Sequence[TagReport], kind: str, k: int = FOLDS) -> str:
    lines = [f"{k}-fold cross-validation over the labels; model: {kind}; P / R / F1", ""]
    head = f"{_pad('tag', 14)}{'labels':>8}{'relevant':>9}   {'rules':<20}{'model':<20}combined"
    lines.append(head)

    def cell(s: Scores) -> str:
        if not s.tp + s.fn:  # no relevant item: recall and F1 are undefined
            return "— (no relevant labels)".ljust(20)
        return f"{s.precision:.2f} / {s.recall:.2f} / {s.f1:.2f}".ljust(20)

    for r in reports:
        lines.append(
            f"{_pad(r.tag, 14)}{r.labelled:>8}{r.relevant:>9}   "
            f"{cell(r.rules)}{cell(r.model)}{cell(r.combined).rstrip()}"
        )
    lines += ["", "learning curve (F1 on the held-out folds; training labels: model / combined)"]
    for r in reports:
        points = "  ".join(f"{n}: {a:.2f}/{b:.2f}" for n, a, b in r.curve) or "too few labels"
        lines.append(f"{_pad(r.tag, 14)}{points}")
    return "\n".join(lines)
