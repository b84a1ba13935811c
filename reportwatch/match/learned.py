"""Learned relevance: a linear model per tag over character n-grams, behind a keyword gate.

Pure Python at scoring time (no scikit-learn, no numpy): a model is a table n-gram → (idf,
weight) plus a bias, so it is stored as JSON in the store, versioned, and shared by every host.
reportwatch.match.train fits it with scikit-learn from the analysts' feedback; this module
applies it exactly as scikit-learn's TfidfVectorizer + a linear classifier would.

Features: character 1–3-grams of the text the matcher normalises (NFKC, casefold, markup
removed), the title counted twice (it says what the story is about; summaries add context),
sublinear term frequency, idf, L2 norm over the known n-grams.

The gate: a model only judges items that its tag's vocabulary reaches (the rule's keywords in
any field, plus the tag's own `gate:` words). A model trained on a few hundred labels fires on
unrelated text, since it never saw any; the gate keeps it to where it was taught.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .matcher import Hit, TagMatch, normalise

NGRAMS = (1, 3)
TITLE_WEIGHT = 2  # the title's n-grams count twice
RULE_WEIGHT = 5
RULE_MARK, KEYWORD_MARK = "\x01", "\x02"  # never in normalised text's n-grams
RULE_FIELDS = frozenset({"title", "summary", "categories"})
MIN_LABELS = 40  # fewer labels for a tag (or fewer than MIN_EACH of a class): the rules decide
MIN_EACH = 10
MODEL_FIELD = "model"  # Hit.field of a tag the model gave
ANALYST_FIELD = "analyst"  # Hit.field of a tag an analyst gave (feedback)


def grams(title: str, summary: str = "", found: Sequence[TagMatch] = ()) -> list[str]:
    """The features of an item, with repeats (term frequency): its n-grams, the title's twice,
    and what the rules found (`found`: each tag they give and each keyword, RULE_WEIGHT times).
    The rules' verdicts as features lifted F1 at 300 labels from 0.81 to 0.84 (腾讯) and 0.77
    to 0.81 (微信电商) in cross-validation on tests/data/relevance (benchmarks/relevance.py)."""
    title, summary = normalise(title), normalise(summary)
    out = _grams(title) * TITLE_WEIGHT
    if summary:
        out += _grams(summary)
    for m in found:
        out += [RULE_MARK + m.tag] * RULE_WEIGHT
        for h in m.hits:
            if h.field in RULE_FIELDS:
                out += [KEYWORD_MARK + h.keyword] * RULE_WEIGHT
    return out


def _grams(text: str) -> list[str]:
    lo, hi = NGRAMS
    n = len(text)
    return [text[i : i + k] for k in range(lo, hi + 1) for i in range(n - k + 1)]


@dataclass
class TagModel:
    """One tag's model: score = bias + Σ weight·tfidf / ‖tfidf‖; the tag when score ≥ threshold."""

    tag: str
    version: int
    idf: dict[str, float]
    weight: dict[str, float]  # only the n-grams that weigh (|w| above a floor); idf covers all
    bias: float
    threshold: float = 0.0
    labels: int = 0  # how many labels it was trained on
    gate: tuple[str, ...] = ()  # normalised words; an item containing none is not judged
    kind: str = "logreg"
    trained_at: str = ""

    def score(self, title: str, summary: str = "", found: Sequence[TagMatch] = ()) -> float:
        """`found`: what the rules gave the item (they are features too)."""
        return self.score_grams(grams(title, summary, found))

    def score_grams(self, items: Sequence[str]) -> float:
        counts: dict[str, int] = {}
        for g in items:
            counts[g] = counts.get(g, 0) + 1
        idf, weight = self.idf, self.weight
        norm = 0.0
        dot = 0.0
        for g, c in counts.items():
            i = idf.get(g)
            if i is None:
                continue
            x = (1.0 + math.log(c)) * i
            norm += x * x
            w = weight.get(g)
            if w is not None:
                dot += w * x
        return self.bias + (dot / math.sqrt(norm) if norm else 0.0)

    def gated(self, text: str) -> bool:
        """Is the (normalised) text one the model may judge?"""
        return not self.gate or any(word in text for word in self.gate)

    def top_grams(
        self, title: str, summary: str = "", found: Sequence[TagMatch] = (), n: int = 5
    ) -> list[tuple[str, float]]:
        """The features that weighed most for this item, signed (why the model decided); the
        rules' features read "rule:腾讯", "keyword:微信"."""
        items = grams(title, summary, found)
        counts: dict[str, int] = {}
        for g in items:
            counts[g] = counts.get(g, 0) + 1
        xs = {g: (1.0 + math.log(c)) * self.idf[g] for g, c in counts.items() if g in self.idf}
        norm = math.sqrt(sum(x * x for x in xs.values())) or 1.0
        parts = [(g, self.weight[g] * x / norm) for g, x in xs.items() if g in self.weight]
        parts.sort(key=lambda p: -abs(p[1]))
        return [(_shown(g), round(v, 3)) for g, v in parts[:n] if v]

    def to_json(self) -> str:
        body = {
            "tag": self.tag, "version": self.version, "idf": self.idf, "weight": self.weight,
            "bias": self.bias, "threshold": self.threshold, "labels": self.labels,
            "gate": list(self.gate), "kind": self.kind, "trained_at": self.trained_at,
        }  # fmt: skip
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> TagModel:
        d = json.loads(text)
        return cls(
            tag=str(d["tag"]), version=int(d["version"]),
            idf={str(k): float(v) for k, v in d["idf"].items()},
            weight={str(k): float(v) for k, v in d["weight"].items()},
            bias=float(d["bias"]), threshold=float(d.get("threshold", 0.0)),
            labels=int(d.get("labels", 0)), gate=tuple(str(g) for g in d.get("gate", ())),
            kind=str(d.get("kind", "logreg")), trained_at=str(d.get("trained_at", "")),
        )  # fmt: skip


def _shown(feature: str) -> str:
    if feature.startswith(RULE_MARK):
        return "rule:" + feature[1:]
    if feature.startswith(KEYWORD_MARK):
        return "keyword:" + feature[1:]
    return feature


def gate_words(rule_words: Iterable[str], extra: Iterable[str] = ()) -> tuple[str, ...]:
    """A tag's gate: its rule's keywords (anchors dropped) and its own gate words, normalised."""
    words = {normalise(w.lstrip("^")) for w in [*rule_words, *extra]}
    return tuple(sorted(w for w in words if w))


@dataclass
class LearnedMatcher:
    """The rules, then each tag's model where one is trained: the MatcherLike the poller uses.

    For a tag with a model, the model decides among the items its gate admits (a rule hit
    outside the gate cannot happen: the gate holds the rule's words); without one, the rule
    does. The fingerprint covers the rules and the model versions, so a retrained model
    re-scores stored stories as a rule change does.
    """

    rules: object  # reportwatch.match.matcher.Matcher
    models: dict[str, TagModel] = field(default_factory=dict)

    def __post_init__(self) -> None:
        versions = ",".join(
            f"{t}:{m.version}:{zlib.crc32(chr(0).join(m.gate).encode()):08x}"
            for t, m in sorted(self.models.items())
        )
        base = self.rules.fingerprint  # type: ignore[attr-defined]
        self.fingerprint = base if not versions else f"{base}+models[{versions}]"
        self.tags: list[str] = list(self.rules.tags)  # type: ignore[attr-defined]

    def match(
        self, title: str, summary: str = "", categories: Sequence[str] = ()
    ) -> list[TagMatch]:
        found = self.rules.match(title, summary, categories)  # type: ignore[attr-defined]
        if not self.models:
            return found
        text = ""
        items: list[str] | None = None
        out = [m for m in found if m.tag not in self.models]
        by_tag = {m.tag: m for m in found}
        for tag, model in self.models.items():
            if not text:
                text = normalise(title) + "\n" + normalise(summary)
            if not model.gated(text):
                continue
            if items is None:
                items = grams(title, summary, found)
            score = model.score_grams(items)
            if score < model.threshold:
                continue
            rule = by_tag.get(tag)
            hits = (rule.hits if rule else ()) + (Hit(tag, f"{score:.2f}", MODEL_FIELD),)
            out.append(TagMatch(tag, hits, (rule.score if rule else 0.0) + 1.0))
        out.sort(key=lambda m: -m.score)
        return out
