"""The tags' learned models, kept in step with the analysts' feedback.

One orchestrator for the poller (every cycle) and the app (in the background after a verdict):
current_matcher() retrains the tags whose feedback changed since their model, then wraps the
rules in a LearnedMatcher with every tag's current model. Its fingerprint changes with a new
model version, so the store re-scores stored stories as after a rule change.

Models are trained on the verdicts alone (the analysts' labels, not the rules' output); a tag
with fewer than MIN_LABELS verdicts, or fewer than MIN_EACH of either kind, keeps its rules.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from reportwatch.config.settings import LoadedConfig
from reportwatch.match.learned import MIN_EACH, MIN_LABELS, LearnedMatcher, TagModel, gate_words
from reportwatch.match.matcher import Matcher
from reportwatch.store.core import Store
from reportwatch.store.feedback import StoredModel, Verdict, labels_digest

log = logging.getLogger(__name__)

_lock = threading.Lock()  # one training at a time per process (the app's thread, the poller)
_checked: dict[str, int] = {}  # store URL → the feedback serial last trained from
_loaded: dict[str, tuple[tuple[tuple[str, int], ...], dict[str, TagModel]]] = {}


def watched_tags(loaded: LoadedConfig, rules: Matcher) -> list[str]:
    return list(rules.tags)


def gates(loaded: LoadedConfig, tags: list[str]) -> dict[str, tuple[str, ...]]:
    """Each tag's gate: the rule's keywords in any field, its gate: words and its name."""
    out = {}
    rules = loaded.config.rules()
    for tag in tags:
        rule = rules.get(tag)
        words = [tag]
        if rule is not None:
            words += [*rule.any_, *rule.title_only, *rule.gate]
            words += [w for group in rule.all_ for w in group.split("|")]
        out[tag] = gate_words(words)
    return out


def retrain(store: Store, loaded: LoadedConfig, rules: Matcher, force: bool = False) -> list[str]:
    """Train the tags whose verdicts differ from those their model learned (added, changed or
    withdrawn); a tag left with too few verdicts loses its model (the rules decide again).
    Returns the tags whose model changed."""
    with _lock:
        serial = store.feedback_serial()
        if not force and _checked.get(store.url) == serial:
            return []
        versions = store.model_versions()
        tags = watched_tags(loaded, rules)
        gate = gates(loaded, tags)
        verdicts = store.feedback()
        done = []
        for tag in tags:
            mine = [v for v in verdicts if v.tag == tag]
            version, trained_on = versions.get(tag, (0, ""))
            digest = labels_digest((v.subject, v.relevant) for v in mine)
            if not force and version and trained_on == digest:
                continue
            positive = sum(v.relevant for v in mine)
            if len(mine) < MIN_LABELS or min(positive, len(mine) - positive) < MIN_EACH:
                if version and store.drop_model(tag, version):  # too few left: rules decide
                    done.append(tag)
                    log.info("dropped the model of %s (%d verdicts left)", tag, len(mine))
                continue
            from reportwatch.match.train import fit

            docs = [(v.title, v.summary, rules.match(v.title, v.summary)) for v in mine]
            model = fit(tag, docs, [v.relevant for v in mine], gate=gate[tag], version=version + 1)
            stored = StoredModel(tag, version + 1, datetime.now(UTC), len(mine), serial,
                                 model.to_json(), digest)  # fmt: skip
            if store.save_model(stored, version or None):
                done.append(tag)
                log.info("retrained %s on %d verdicts (version %d)", tag, len(mine), version + 1)
        _checked[store.url] = serial
        return done


def current_matcher(
    store: Store, loaded: LoadedConfig, rules: Matcher, train: bool = True
) -> LearnedMatcher:
    """The rules and the current models (retrained first when the feedback changed, unless
    `train` is False: a page showing why a story has its tags must not wait for a training)."""
    if train:
        pending = store.pending_feedback()
        if pending:  # verdicts imported before their story was stored: theirs now, if it is
            store.attach_feedback(pending)
        retrain(store, loaded, rules)
    versions = store.model_versions()
    tags = watched_tags(loaded, rules)
    key = tuple(sorted((t, v) for t, (v, _) in versions.items() if t in tags))  # dropped: gone
    cached = _loaded.get(store.url)
    if cached is None or cached[0] != key:
        models = {m.tag: TagModel.from_json(m.body) for m in store.load_models(tags)}
        _loaded[store.url] = cached = (key, models)
    gate = gates(loaded, tags)
    models = cached[1]
    for tag, model in models.items():
        model.set_gate(gate.get(tag, model.gate))  # the config's gate words, as they are now
    return LearnedMatcher(rules, dict(models))


# -- verdicts from the UI and from files ---------------------------------------------------------


MAX_LINK, MAX_TITLE, MAX_SUMMARY = 2048, 500, 1000  # as feeds are capped (feeds.parse)


class FeedbackError(ValueError):
    """A verdict that cannot be stored (unknown tag, story or link), said for an analyst."""


def give_verdict(
    store: Store, loaded: LoadedConfig, rules: Matcher, story_id: int, tag: str,
    relevant: bool, analyst: str | None, origin: str = "ui",
) -> None:  # fmt: skip
    """An analyst's verdict on a story and tag, applied at once (the models follow in the
    background or at the next cycle)."""
    if tag not in watched_tags(loaded, rules):
        raise FeedbackError(f"unknown tag {tag!r}: it is in no rule and no report")
    text = store.story_text(story_id)
    if text is None:
        raise FeedbackError(f"story {story_id} is not in the store (pruned?)")
    title, summary, link = text
    verdict = Verdict(
        tag, relevant, story_id, f"s:{story_id}", title, summary, link, analyst, origin
    )
    store.save_feedback([verdict], datetime.now(UTC))


@dataclass
class ImportReport:
    stories: int = 0  # verdicts on stories in the store
    links: int = 0  # on links no stored story has, kept for training (they had a title)
    skipped: list[str] = field(default_factory=list)  # why lines were left out
    repeated: list[str] = field(default_factory=list)  # lines naming a story and tag again

    def __str__(self) -> str:
        text = f"{self.stories} verdicts on stories in the store"
        if self.links:
            text += f", {self.links} on links not in the store (kept for training)"
        if self.skipped:
            text += f"; {len(self.skipped)} left out:\n  " + "\n  ".join(self.skipped)
        if self.repeated:
            text += ("\n  the same story and tag again (the later line counts): "
                     + ", ".join(self.repeated[:20]))  # fmt: skip
        return text


def import_feedback(
    store: Store, loaded: LoadedConfig, rules: Matcher, lines: list[str], analyst: str | None
) -> ImportReport:
    """Verdicts from JSON lines (`link`, `tag`, `relevant`; `title`, `summary` optional). Every
    line is checked first: one that is not a verdict stops the import before anything is
    stored (FeedbackError names each). A link identifies its story through any copy."""
    from reportwatch.match.similar import story_keys
    from reportwatch.urls import is_web_url

    tags = set(watched_tags(loaded, rules))
    problems: list[str] = []
    parsed: list[tuple[int, str, str, bool, str, str, str | None]] = []
    if lines and lines[0].startswith("\ufeff"):  # a byte-order mark, as Windows editors write
        lines = [lines[0][1:], *lines[1:]]
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            problems.append(f"line {n}: not JSON")
            continue
        if not isinstance(row, dict):
            problems.append(f"line {n}: not a JSON object")
            continue
        link, tag, relevant = row.get("link"), row.get("tag"), row.get("relevant")
        title, summary, who = row.get("title"), row.get("summary"), row.get("analyst")
        if not isinstance(link, str) or not is_web_url(link.strip()):
            problems.append(f"line {n}: link must be an http(s) URL")
        elif len(link) > MAX_LINK:
            problems.append(f"line {n}: link longer than {MAX_LINK} characters")
        elif any(v is not None and not isinstance(v, str) for v in (title, summary, who)):
            problems.append(f"line {n}: title, summary and analyst must be text")
        elif not isinstance(tag, str) or tag not in tags:
            problems.append(f"line {n}: unknown tag {tag!r} (known: {', '.join(sorted(tags))})")
        elif not isinstance(relevant, bool):
            problems.append(f"line {n}: relevant must be true or false")
        else:
            parsed.append((n, link.strip(), tag, relevant, (title or "")[:MAX_TITLE],
                           (summary or "")[:MAX_SUMMARY], who or analyst))  # fmt: skip
    if problems:
        raise FeedbackError("nothing imported:\n  " + "\n  ".join(problems[:50]))
    report = ImportReport()
    verdicts: list[Verdict] = []
    seen: dict[tuple[str, str], int] = {}
    for n, link, tag, relevant, title, summary, who in parsed:
        keys = [k for k in story_keys("", link, None) if k.startswith("l:")]
        story = store.story_by_keys(keys, link)
        text = store.story_text(story) if story is not None else None
        if text is not None and story is not None:
            subject = f"s:{story}"
            verdict = Verdict(tag, relevant, story, subject, text[0], text[1], text[2] or link,
                              who, "import")  # fmt: skip
            report.stories += 1
        elif title.strip():
            subject = keys[0] if keys else "l:" + link
            verdict = Verdict(tag, relevant, None, subject, title, summary, link, who, "import")
            report.links += 1
        else:
            report.skipped.append(
                f"line {n}: no stored story has {link} (add a title to learn from it)"
            )
            continue
        if (subject, tag) in seen:
            report.repeated.append(f"line {n} (and line {seen[subject, tag]})")
        seen[subject, tag] = n
        verdicts.append(verdict)
    store.save_feedback(verdicts, datetime.now(UTC))
    return report


# -- retraining in the background (the app, after a verdict) -------------------------------------

_background: dict[str, threading.Thread] = {}
_again: set[str] = set()
_background_lock = threading.Lock()


def learn_soon(store: Store, loaded: LoadedConfig, rules: Matcher) -> threading.Thread:
    """Retrain and re-score the stored stories in a background thread (one per store; a
    verdict given while it runs makes it go round once more). The page goes on at once."""
    with _background_lock:
        running = _background.get(store.url)
        if running is not None and running.is_alive():
            _again.add(store.url)
            return running
        thread = threading.Thread(
            target=_learn_loop, args=(store, loaded, rules), name="reportwatch-learn", daemon=True
        )
        _background[store.url] = thread
        thread.start()
        return thread


def _learn_loop(store: Store, loaded: LoadedConfig, rules: Matcher) -> None:
    while True:
        try:
            store.rematch_if_changed(current_matcher(store, loaded, rules))
        except Exception:  # logged; the next poll cycle retrains and re-scores anyway
            log.exception("retraining after feedback failed")
        with _background_lock:
            if store.url not in _again:
                _background.pop(store.url, None)
                return
            _again.discard(store.url)
