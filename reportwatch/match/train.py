"""Fit a tag's model (reportwatch.match.learned.TagModel) with scikit-learn.

Imported only when training (scikit-learn and numpy take ~1 s to import): scoring needs
neither. Every kind here is linear in the TF-IDF features, so each becomes the same table of
n-gram weights; benchmarks/relevance.py compares them (and a non-linear one) on real labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from .learned import TagModel, grams

KINDS = ("logreg", "svm", "nbsvm")
DEFAULT_KIND = "logreg"
WEIGHT_FLOOR = 1e-4  # n-grams weighing less are left out of the stored table (idf stays)
MIN_DF = 2  # a feature must occur in this many labelled items

Doc = tuple[str, str, Sequence[Any]]  # (title, summary, what the rules found: TagMatch list)


def _analyzer(doc: Doc) -> list[str]:
    return grams(doc[0], doc[1], doc[2])


def fit(
    tag: str, docs: Sequence[Doc], labels: Sequence[bool], *, kind: str = DEFAULT_KIND,
    gate: tuple[str, ...] = (), version: int = 1, c: float = 4.0,
) -> TagModel:  # fmt: skip
    """A model for `tag` from labelled items (both classes needed)."""
    return fit_estimator(tag, docs, labels, kind=kind, gate=gate, version=version, c=c)[0]


def fit_estimator(
    tag: str, docs: Sequence[Doc], labels: Sequence[bool], *, kind: str = DEFAULT_KIND,
    gate: tuple[str, ...] = (), version: int = 1, c: float = 4.0,
) -> tuple[TagModel, Any, Any]:  # fmt: skip
    """fit(), and the fitted vectorizer and classifier (for checking that the stored model
    scores as they do; for "nbsvm" the classifier reads the NB-scaled features)."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r} (one of {', '.join(KINDS)})")
    y = np.array([1 if v else 0 for v in labels])
    if len(set(y.tolist())) < 2:
        raise ValueError(f"{tag}: the labels need relevant and irrelevant examples")
    # n-grams of a single labelled item are left out: they cannot generalise, and scored
    # better left out (F1 at 300 labels 0.84 → 0.84 for 腾讯, 0.83 → 0.85 for 微信电商)
    vec = TfidfVectorizer(analyzer=_analyzer, binary=True, lowercase=False, min_df=MIN_DF)
    x = vec.fit_transform(list(docs))
    scale = None
    if kind == "logreg":
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    elif kind == "svm":
        from sklearn.svm import LinearSVC

        clf = LinearSVC(C=c / 8, class_weight="balanced")
    else:  # NB-SVM (Wang & Manning 2012): features scaled by the naive Bayes log-count ratio
        from sklearn.linear_model import LogisticRegression

        p = np.asarray(x[y == 1].sum(axis=0)).ravel() + 1.0
        q = np.asarray(x[y == 0].sum(axis=0)).ravel() + 1.0
        scale = np.log((p / p.sum()) / (q / q.sum()))
        x = x.multiply(scale).tocsr()
        clf = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    clf.fit(x, y)
    coef = np.asarray(clf.coef_).ravel()
    if scale is not None:
        coef = coef * scale  # the same linear function of the unscaled TF-IDF features
    names = vec.get_feature_names_out()
    idf = {str(g): float(v) for g, v in zip(names, vec.idf_, strict=True)}
    weight = {str(g): float(w) for g, w in zip(names, coef, strict=True) if abs(w) > WEIGHT_FLOOR}
    model = TagModel(
        tag=tag, version=version, idf=idf, weight=weight,
        bias=float(np.asarray(clf.intercept_).ravel()[0]), threshold=0.0,
        labels=len(labels), gate=gate, kind=kind,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )  # fmt: skip
    return model, vec, clf
