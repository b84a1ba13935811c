"""Learned relevance: a linear model per tag over character n-grams, behind a keyword gate.

Pure Python at scoring time (no scikit-learn, no numpy): a model is a table feature → (idf²,
weight·idf) plus a bias, stored as JSON in the store, versioned, and shared by every host.
reportwatch.match.train fits it with scikit-learn from the analysts' feedback; this module
applies it exactly as scikit-learn's TfidfVectorizer(binary=True) + a linear classifier would.

Features (binary: present or not): the character 1–3-grams of the text the matcher normalises
(NFKC, casefold, markup removed), title and summary, and what the rules found: each tag they give
and each keyword they hit, as RULE_WEIGHT distinct features. Measured on tests/data/relevance
with 300 labels (benchmarks/relevance.py, cross-validated): the rules' hits as features lifted
F1 from 0.81 to 0.84 (腾讯) and from 0.77 to 0.83 (微信电商); binary presence scored as well as
sublinear counts with a doubled title, and lets a score be three passes in C over a set.

The gate: a model only judges items that its tag's vocabulary reaches (the rule's keywords in
any field, plus the tag's own `gate:` words). A model trained on a few hundred labels fires on
unrelated text, since it never saw any; the gate keeps it to where it was taught.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import repeat
from operator import add as _add

from .matcher import Hit, TagMatch, normalise

NGRAMS = (1, 3)  # _add_grams() writes these out
RULE_WEIGHT = 3  # each rule tag and keyword is this many features
RULE_MARK, KEYWORD_MARK = "\x01", "\x02"  # never in normalised text's n-grams
RULE_FIELDS = frozenset({"title", "summary", "categories"})
MIN_LABELS = 40  # fewer labels for a tag (or fewer than MIN_EACH of a class): the rules decide
MIN_EACH = 10
MODEL_FIELD = "model"  # Hit.field of a tag the model gave
ANALYST_FIELD = "analyst"  # Hit.field of a tag an analyst gave (feedback)


def features(title: str, summary: str = "", found: Sequence[TagMatch] = ()) -> set[str]:
    """An item's features: its n-grams and the rules' tags and keywords (`found`)."""
    out: set[str] = set()
    _add_grams(out, normalise(title))
    if summary:
        _add_grams(out, normalise(summary))
    for m in found:
        out.update(_rule_features(RULE_MARK + m.tag))
        for h in m.hits:
            if h.field in RULE_FIELDS:
                out.update(_rule_features(KEYWORD_MARK + h.keyword))
    return out


def grams(title: str, summary: str = "", found: Sequence[TagMatch] = ()) -> list[str]:
    """features() as a list: the analyzer scikit-learn trains with."""
    return sorted(features(title, summary, found))


@lru_cache(maxsize=4096)
def _rule_features(name: str) -> tuple[str, ...]:
    return tuple(f"{name}#{k}" for k in range(RULE_WEIGHT))


def _add_grams(out: set[str], text: str) -> None:
    """Character 1-, 2- and 3-grams into `out` (maps over str.__add__: built in C, no Python
    frame per n-gram)."""
    pairs = list(map(_add, text, text[1:]))
    out.update(text)
    out.update(pairs)
    out.update(map(_add, pairs, text[2:]))


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

    def __post_init__(self) -> None:
        # feature → idf² + (weight·idf)j: x = idf for a present feature, so ‖x‖² and w·x are
        # the real and imaginary parts of one sum over the item's features (a complex number
        # holds both inline: one lookup, one object, one pass; the table is memory-bound).
        self._table = {g: complex(i * i, self.weight.get(g, 0.0) * i) for g, i in self.idf.items()}
        self._gate_re = _alternation(self.gate)

    def score(self, title: str, summary: str = "", found: Sequence[TagMatch] = ()) -> float:
        """`found`: what the rules gave the item (they are features too)."""
        return self.score_features(features(title, summary, found))

    def score_features(self, feats: Iterable[str]) -> float:
        """bias + w·x / ‖x‖: one dict lookup per feature, summed in C."""
        total = sum(map(self._table.get, feats, repeat(0j)), 0j)
        if not total.real:
            return self.bias
        return self.bias + total.imag / math.sqrt(total.real)

    def gated(self, text: str) -> bool:
        """Is the (normalised) text one the model may judge?"""
        return self._gate_re is None or self._gate_re.search(text) is not None

    def set_gate(self, gate: tuple[str, ...]) -> None:
        self.gate = gate
        self._gate_re = _alternation(gate)

    def top_grams(
        self, title: str, summary: str = "", found: Sequence[TagMatch] = (), n: int = 5
    ) -> list[tuple[str, float]]:
        """The features that weighed most for this item, signed (why the model decided); the
        rules' features read "rule:腾讯", "keyword:微信"."""
        feats = features(title, summary, found)
        known = [(g, self._table[g]) for g in feats if g in self._table]
        norm = math.sqrt(sum(e.real for _, e in known)) or 1.0
        parts: dict[str, float] = {}
        for g, e in known:
            if wi := e.imag:
                shown = _shown(g)
                parts[shown] = parts.get(shown, 0.0) + wi / norm
        ranked = sorted(parts.items(), key=lambda p: -abs(p[1]))
        return [(g, round(v, 3)) for g, v in ranked[:n]]

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


def _alternation(words: Sequence[str]) -> re.Pattern[str] | None:
    """One regex for "any of the words" (searched in C), longest first."""
    if not words:
        return None
    return re.compile("|".join(map(re.escape, sorted(words, key=len, reverse=True))))


def _shown(feature: str) -> str:
    if feature.startswith(RULE_MARK):
        return "rule:" + feature[1:].rsplit("#", 1)[0]
    if feature.startswith(KEYWORD_MARK):
        return "keyword:" + feature[1:].rsplit("#", 1)[0]
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
        feats: set[str] | None = None
        out = [m for m in found if m.tag not in self.models]
        by_tag = {m.tag: m for m in found}
        for tag, model in self.models.items():
            if not text:
                text = normalise(title) + "\n" + normalise(summary)
            if not model.gated(text):
                continue
            if feats is None:
                feats = features(title, summary, found)
            score = model.score_features(feats)
            if score < model.threshold:
                continue
            rule = by_tag.get(tag)
            hits = (rule.hits if rule else ()) + (Hit(tag, f"{score:.2f}", MODEL_FIELD),)
            out.append(TagMatch(tag, hits, (rule.score if rule else 0.0) + 1.0))
        out.sort(key=lambda m: -m.score)
        return out
