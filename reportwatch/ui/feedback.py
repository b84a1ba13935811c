"""Feedback on stories (editors) and why a story has its tags (everyone): panel cards and the
explorer's selected row share these.

The verdicts live in the store (reportwatch.store.feedback); the page only shows them and sends
new ones through reportwatch.poll.learn, which applies a verdict at once and retrains the models
in the background. Feed text shown here (titles, the n-grams that weighed) is escaped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import streamlit as st

from reportwatch.config.settings import LoadedConfig
from reportwatch.match.learned import LearnedMatcher
from reportwatch.store.core import Store
from reportwatch.store.errors import StoreError
from reportwatch.ui.auth import current_editor
from reportwatch.ui.i18n import t
from reportwatch.ui.markdown import escape_markdown

log = logging.getLogger(__name__)
RELEVANT, IRRELEVANT = "relevant", "irrelevant"


MATCHER_TTL = 15  # seconds a page may show a model that was just replaced


def relevance_matcher(loaded: LoadedConfig, store: Store) -> LearnedMatcher:
    """The rules with the store's current models (never trains: the page must not wait).
    Shared by every session for MATCHER_TTL seconds: building it reads the reports and the
    models, which the panel would otherwise do for each session at every refresh."""
    return _shared_matcher(store.url, str(loaded.path), loaded.path.stat().st_mtime, loaded, store)


@st.cache_resource(ttl=MATCHER_TTL, max_entries=8, show_spinner=False)
def _shared_matcher(
    url: str, path: str, stamp: float, _loaded: LoadedConfig, _store: Store
) -> LearnedMatcher:
    """Keyed by the store, the config file and its mtime (a "_" argument is not hashed)."""
    from reportwatch.poll.cycle import build_matcher
    from reportwatch.poll.learn import current_matcher

    return current_matcher(_store, _loaded, build_matcher(_loaded), train=False)


def verdicts_for(store: Store, stories: Sequence[int]) -> dict[tuple[int, str], bool]:
    return store.verdicts(stories) if stories else {}


def feedback_controls(
    loaded: LoadedConfig, store: Store, story: int, tags: Sequence[str],
    watched: Sequence[str], verdicts: dict[tuple[int, str], bool], lang: str, key: str,
) -> None:  # fmt: skip
    """Per tag 相关 / 不相关, and "add a tag" for a missed one (editors only; nothing for viewers,
    whose edit notice the panel already shows)."""
    editor = current_editor(loaded)
    if editor is None or not story:
        return
    judged = [tag for (s, tag) in verdicts if s == story]
    shown = list(dict.fromkeys([*tags, *judged]))
    # Keyed by story: when the card leaves the panel, its popover goes with it (an unkeyed one
    # stayed open on the next card, and the next click judged a story nobody opened).
    with st.popover(t("feedback", lang), icon="🏷️", key=f"fbp:{key}:{story}"):
        st.caption(t("feedback_hint", lang))
        for tag in shown:
            widget = f"fb:{key}:{story}:{tag}"
            verdict = verdicts.get((story, tag))
            # The store is the truth: another editor's verdict shows at the next refresh.
            st.session_state[widget] = (
                None if verdict is None else (RELEVANT if verdict else IRRELEVANT)
            )
            st.segmented_control(
                tag, [RELEVANT, IRRELEVANT], key=widget,
                format_func=lambda v: t("fb_" + v, lang),
                on_change=_changed, args=(loaded, store, story, tag, widget, editor.name, lang),
            )  # fmt: skip
        missing = [tag for tag in watched if tag not in shown]
        if missing:
            pick = f"fb-add:{key}:{story}"
            chosen = st.selectbox(t("fb_add_tag", lang), missing, key=pick, index=None,
                                  placeholder=t("fb_pick_tag", lang))  # fmt: skip
            st.button(
                t("fb_add", lang), key=f"fb-add-go:{key}:{story}", disabled=chosen is None,
                on_click=_added, args=(loaded, store, story, pick, editor.name, lang),
            )  # fmt: skip


def _added(loaded: LoadedConfig, store: Store, story: int, pick: str, analyst: str,
           lang: str) -> None:  # fmt: skip
    tag = st.session_state.get(pick)
    if tag:
        _save(loaded, store, story, str(tag), True, analyst, lang)
        st.session_state[pick] = None


def _changed(loaded: LoadedConfig, store: Store, story: int, tag: str, widget: str,
             analyst: str, lang: str) -> None:  # fmt: skip
    value = st.session_state.get(widget)
    if value is None:  # clicked again: the verdict is withdrawn
        _forget(loaded, store, story, tag, lang)
    else:
        _save(loaded, store, story, tag, value == RELEVANT, analyst, lang)


def _save(loaded: LoadedConfig, store: Store, story: int, tag: str, relevant: bool,
          analyst: str, lang: str) -> None:  # fmt: skip
    from reportwatch.poll.cycle import build_matcher
    from reportwatch.poll.learn import FeedbackError, give_verdict, learn_soon

    rules = build_matcher(loaded)
    try:
        give_verdict(store, loaded, rules, story, tag, relevant, analyst)
    except (FeedbackError, StoreError) as exc:
        _flash(f"{t('fb_failed', lang)} {escape_markdown(str(exc))}", "⚠️")
        return
    _flash(t("fb_saved", lang, tag=escape_markdown(tag)), "✅")
    learn_soon(store, loaded, rules)


def _forget(loaded: LoadedConfig, store: Store, story: int, tag: str, lang: str) -> None:
    from reportwatch.poll.cycle import build_matcher
    from reportwatch.poll.learn import learn_soon

    try:
        store.forget_feedback(story, tag)
    except StoreError as exc:
        _flash(f"{t('fb_failed', lang)} {escape_markdown(str(exc))}", "⚠️")
        return
    _flash(t("fb_withdrawn", lang, tag=escape_markdown(tag)), "↩️")
    learn_soon(store, loaded, build_matcher(loaded))


FLASH = "_rw_feedback_flash"


def _flash(text: str, icon: str) -> None:
    """A toast for the next run: callbacks must not draw (Streamlit warns when one does in a
    fragment's rerun), so the message waits in the session until show_flash()."""
    st.session_state[FLASH] = (text, icon)


def show_flash() -> None:
    note = st.session_state.pop(FLASH, None)
    if note:
        st.toast(note[0], icon=note[1])


def why_lines(matcher: LearnedMatcher, story: int, title: str, summary: str,
              verdicts: dict[tuple[int, str], bool], lang: str) -> list[str]:  # fmt: skip
    """Why the story has its tags, as escaped Markdown lines: the analysts' verdicts, the rules'
    keywords, and each model's score with the features that weighed most."""
    from reportwatch.match.matcher import normalise

    lines = []
    for (s, tag), relevant in sorted(verdicts.items()):
        if s == story:
            word = t("fb_relevant" if relevant else "fb_irrelevant", lang)
            lines.append(t("why_analyst", lang, tag=escape_markdown(tag), verdict=word))
    found = matcher.rules.match(title, summary)  # type: ignore[attr-defined]
    for m in found:
        words = ", ".join(
            f"{escape_markdown(h.keyword)} ({t('field_' + h.field, lang)})" for h in m.hits
        )
        lines.append(t("why_rule", lang, tag=escape_markdown(m.tag), words=words))
    text = normalise(title) + "\n" + normalise(summary)
    for tag, model in sorted(matcher.models.items()):
        if not model.gated(text):
            lines.append(t("why_gate", lang, tag=escape_markdown(tag)))
            continue
        score = model.score(title, summary, found)
        top = ", ".join(
            f"{escape_markdown(g)} {w:+.2f}" for g, w in model.top_grams(title, summary, found)
        )
        verdict = t("why_gives" if score >= model.threshold else "why_not", lang)
        lines.append(t("why_model", lang, tag=escape_markdown(tag), score=f"{score:+.2f}",
                       verdict=verdict, top=top, n=model.labels))  # fmt: skip
    if not lines:
        lines.append(t("why_nothing", lang))
    return lines


def why_popover(
    matcher: LearnedMatcher | None, story: int, title: str, summary: str,
    verdicts: dict[tuple[int, str], bool], lang: str, key: str = "",
) -> None:  # fmt: skip
    with st.popover(t("why", lang), icon="❔", key=f"why:{key}:{story}"):
        if matcher is None:
            st.caption(t("why_unavailable", lang))
            return
        try:
            lines = why_lines(matcher, story, title, summary, verdicts, lang)
        except Exception:  # an explanation must never break the card
            log.exception("explaining a story failed")
            lines = [t("why_unavailable", lang)]
        st.markdown("\n".join(f"- {line}" for line in lines))
