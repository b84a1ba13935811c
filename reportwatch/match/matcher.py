"""Match feed entries against the report's tag rules.

All keywords of all tags go into one Aho-Corasick automaton, so an entry is scanned once
whatever the number of tags, and the outcome is memoised per set of keywords found (few sets
recur). Two paths share the rules and the memo: the compiled scanner (reportwatch/match/_scan.c,
tables from reportwatch/scanner.py) normalises and scans each field in one C pass and is
what match() runs; match_python (one pass of str methods, an ahocorasick_rs DFA) is the
reference, and takes the entries the scanner cannot normalise character by character.
benchmarks/match.py compares both, and the alternatives tried.
Text is normalised (markup, entities, NFKC, casefold, whitespace) and keywords get the same
treatment plus their traditional/simplified forms, so 騰訊 matches 腾讯 without converting
entry text (OpenCC per entry costs far more than the whole match).

Rule semantics for a tag: at least one positive keyword (`any:`, `title_only:` and the tag's
own name) AND every `all:` item AND no `none:` item (so `all:` narrows, it never widens:
adding an `any:` keyword can only add matches, adding a `none:` one only remove).
An item may list alternatives as "a|b" (in `all:` that means "a or b", e.g. a context
group). `title_only:` keywords count only when found in the title, in whichever list they
also appear; a keyword in both
`none:` and `title_only:` is a veto in the title only. "^kw" counts only at the start of a
field or of a headline segment (after ":", "|", "?", "!"): the headline's subject.
Latin keywords match whole words (ASCII letters and digits); Chinese ones match anywhere.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ahocorasick_rs import AhoCorasick, Implementation

from reportwatch.config.settings import TagRule
from reportwatch.models import Entry

from . import boilerplate
from .hanzi import converters
from .scanner import build_scanner, found_from_key, found_key

_BITS = ((1, "title", 3.0), (4, "categories", 2.0), (2, "summary", 1.0))  # title counts most
_VERSION = "match-v2"  # part of the fingerprint: bump when matching semantics change

_MARKUP = re.compile(r"<[a-zA-Z/!?][^<>]*>")


# NFKC forms of the full-width punctuation found in nearly every Chinese text. Replacing
# them is ~20x cheaper than unicodedata.normalize, which then only runs for rarer forms.
_PUNCT = (("，", ","), ("：", ":"), ("（", "("), ("）", ")"), ("！", "!"), ("？", "?"))
_PUNCT += (("；", ";"), ("…", "..."), ("\u3000", " "))
_is_nfkc = unicodedata.is_normalized


def normalise(text: str) -> str:
    """NFKC, casefold, markup and entities removed, whitespace (space, tab, newline) collapsed.

    Every step is guarded by a cheap check, so plain text costs a few C-level scans.
    """
    return _collapse(_fold(text, _MARKUP))


def _fold(text: str, markup: re.Pattern[str]) -> str:
    if "<" in text:
        text = markup.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    if text.isascii():
        return text.lower()  # same as casefold for ASCII, and faster
    if not _is_nfkc("NFKC", text):
        for a, b in _PUNCT:
            if a in text:
                text = text.replace(a, b)
        if not _is_nfkc("NFKC", text):
            text = unicodedata.normalize("NFKC", text)
    return text.casefold()


def _collapse(text: str) -> str:
    if "  " in text or "\n" in text or "\t" in text or "\r" in text or text[:1] == " ":
        return " ".join(text.split())
    return text[:-1] if text[-1:] == " " else text


# Fields are normalised in one go, joined by NUL: no markup, entity, NFKC or case form makes
# or eats one, and NFKC composes nothing across it, so each field comes out as normalise()
# would make it (markup is not allowed to span a NUL). One pass instead of one per field.
_SEP = "\x00"
_MARKUP_IN_FIELD = re.compile(r"<[a-zA-Z/!?][^<>\x00]*>")
_ODD_SPACE = ("  ", "\n", "\t", "\r", " \x00", "\x00 ")  # then collapse field by field


def _normalise_fields(title: str, summary: str, cats: Sequence[str]) -> str | None:
    """normalise() of title, summary and each category, joined by _SEP; None if a field has one."""
    raw = f"{title}{_SEP}{summary}{_SEP}{_SEP.join(cats)}" if cats else f"{title}{_SEP}{summary}"
    if raw.count(_SEP) != (len(cats) + 1 if cats else 1):
        return None
    text = _fold(raw, _MARKUP_IN_FIELD)
    if text[:1] == " " or text[-1:] == " " or any(map(text.__contains__, _ODD_SPACE)):
        text = _SEP.join(map(_collapse, text.split(_SEP)))  # per field, as normalise() does
    return text


@lru_cache(maxsize=4096)
def _variants(keyword: str) -> tuple[str, ...]:
    """Canonical form (normalised, simplified) first, then the traditional spellings."""
    kw = normalise(keyword).lstrip("^")
    if not kw or kw.isascii():
        return (kw,) if kw else ()
    t2s, *to_traditional = converters()
    return tuple(
        dict.fromkeys([normalise(t2s(kw)), kw, *(normalise(c(kw)) for c in to_traditional)])
    )


# Word characters for Latin keyword boundaries. Case does not matter: text is case folded.
_WORD = frozenset("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
# Longer words that hold a keyword without meaning it, split where they part from it: 微商
# (WeChat sellers) inside 小微商户 (small merchants), 微信支付 inside "微信支付宝" (WeChat and
# Alipay). The text gets a mark at the split before scanning, so the keyword cannot match there.
LOOKALIKES = ("小微|商户", "小微|商家", "微信|支付宝")
_MASK = "\ue000"  # a private-use character: no keyword, NFKC and casefold keep it

_SEGMENT = "\n:|?!;/丨"  # a headline's subject comes after these (and spaces), or at a field start


def _segment_start(text: str, start: int, seg: str) -> bool:
    """A segment starts at text[start]: the field's start or a mark of seg before it, spaces
    between allowed ("36氪 | 微信…")."""
    before = text[:start].rstrip(" ")
    return not before or before[-1] in seg


def _split(items: Iterable[str]) -> list[list[str]]:
    """Normalise rule items; "a|b" is one item with alternatives. Empty items are dropped."""
    alts = (map(normalise, item.split("|")) for item in items)
    groups = {tuple(sorted({a for a in g if a.lstrip("^")})) for g in alts}
    return [list(g) for g in sorted(groups) if g]


@dataclass(frozen=True)
class Hit:
    tag: str
    keyword: str
    field: str  # "title" | "summary" | "categories"


@dataclass(frozen=True)
class TagMatch:
    tag: str
    hits: tuple[Hit, ...]
    score: float


@dataclass
class _Tag:
    name: str
    order: int
    pos: dict[int, int]  # keyword id -> fields it may count in (bitmask)
    groups: list[dict[int, int]]  # all: each group needs one of its keywords
    neg: dict[int, int]
    hit_cache: dict[tuple[int, int], Hit] = field(default_factory=dict)


class Matcher:
    """Compiled rules. Build with compile_rules()."""

    def __init__(self, rules: dict[str, dict[str, list[list[str]]]], fingerprint: str) -> None:
        self.fingerprint = fingerprint
        self.tags: list[str] = list(rules)
        self.keywords: dict[str, int] = {}  # canonical keyword -> id
        self._spellings: dict[str, int] = {}  # every spelling (騰訊, 腾讯, ...) -> id
        self._tags = [self._compile_tag(name, rule) for name, rule in rules.items()]
        # Which tags a found keyword can switch on: only those are evaluated per entry.
        self._triggers: dict[int, list[_Tag]] = {}
        for t in self._tags:
            # An all:-only rule is switched on by any keyword of its first all: group.
            for i in t.pos:
                self._triggers.setdefault(i, []).append(t)
        self._spelling = [kw.lstrip("^") for kw in self.keywords]  # id -> text for Hit.keyword
        self._lookalike = self._lookalikes()
        words = sorted(self._lookalike, key=len, reverse=True)
        self._lookalike_re = re.compile("|".join(map(re.escape, words))) if words else None
        self._lookalike_sub = lambda m: self._lookalike[m.group()]
        variants: dict[str, tuple[set[int], set[int]]] = {}  # text -> (free ids, anchored ids)
        for kw, i in self._spellings.items():
            for v in _variants(kw):
                variants.setdefault(v, (set(), set()))[kw.startswith("^")].add(i)
        # payload: a keyword id when the key needs no check, else (word boundary needed at
        # the start, at the end?, keyword ids, ids that count only at a segment start)
        self._payload = [
            next(iter(ids[0]))
            if len(ids[0]) == 1 and not ids[1] and v[0] not in _WORD and v[-1] not in _WORD
            else (v[0] in _WORD, v[-1] in _WORD, *map(tuple, ids))
            for v, ids in variants.items()
        ]
        self._joined = not any(_SEP in v for v in variants)  # else fields are normalised apart
        self._memo: dict[bytes, list[TagMatch]] = {}  # found_key(found) -> outcome
        # Rust Aho-Corasick (DFA) over str: scans ~2.5x faster than pyahocorasick over UTF-8
        # bytes, ~8x faster than it in str mode (benchmarks/match.py)
        self._keys = list(variants)  # key k of the automaton; _payload[k] is its payload
        self._find: Callable[..., list[tuple[int, int, int]]]
        self._scanner: Any = None
        self._built = threading.Lock()  # the automata are built at the first match (~0.2 s:
        self._ready = False  # a poll that stores nothing new never pays for them)
        # match(title, summary="", categories=()) -> tags of an entry, best first. An attribute,
        # not a method: _match_first until the automata are built, then the compiled scanner's
        # match (a C function, no Python frame per entry) or, without it, match_python.
        self.match: Callable[..., list[TagMatch]] = self._match_first

    def _build_automata(self) -> None:
        with self._built:
            if self._ready:
                return
            ac = AhoCorasick(self._keys, implementation=Implementation.DFA)
            self._find = ac.find_matches_as_indexes
            # The compiled scanner does the same in one C pass, ~5x faster end to end
            # (benchmarks/match.py); boilerplate can only start at one of these markers.
            markers = boilerplate.markers()
            if markers is not None:
                self._scanner = build_scanner(
                    self._keys, self._payload, markers, self._triggers, len(self.keywords),
                    self._memo, self._match_rest,
                )  # fmt: skip
            # The compiled match answers most entries itself (from the memo) and calls
            # _match_rest for the others: no Python frame at all on the common path.
            if self._scanner is None:
                self.match = self.match_python  # it marks the lookalikes itself
            else:
                scan = self._scanner.match
                self.match = self._masking(scan) if self._lookalike else scan
            self._ready = True

    def _lookalikes(self) -> dict[str, str]:
        """The LOOKALIKES that some keyword spans the split of: word → word with the mark."""
        out = {}
        for entry in LOOKALIKES:
            left, right = entry.split("|")
            word = left + right
            for kw in self._spellings:
                kw = kw.lstrip("^")
                at = word.find(kw)
                while at != -1:
                    if at < len(left) < at + len(kw):
                        out[word] = left + _MASK + right
                    at = word.find(kw, at + 1)
        return out

    def _masking(self, inner: Callable[..., list[TagMatch]]) -> Callable[..., list[TagMatch]]:
        """match() that marks the lookalikes first (one regex search when there are none)."""
        mask = self._mask

        def match(title: str, summary: str = "", categories: Sequence[str] = ()) -> list[TagMatch]:
            title, summary = mask(title, summary)
            return inner(title, summary, categories)

        return match

    def _mask(self, title: str, summary: str) -> tuple[str, str]:
        pattern = self._lookalike_re
        if pattern is not None and (pattern.search(title) or (summary and pattern.search(summary))):
            sub = self._lookalike_sub
            return pattern.sub(sub, title), pattern.sub(sub, summary)
        return title, summary

    def _compile_tag(self, name: str, rule: dict[str, list[list[str]]]) -> _Tag:
        title_only = {kw for g in rule["title_only"] for kw in g}

        def ref(kw: str) -> tuple[int, int]:
            # 騰訊 and 腾讯 are one keyword: the id comes from the simplified form.
            key = "^" * kw.startswith("^") + _variants(kw)[0]
            i = self.keywords.setdefault(key, len(self.keywords))
            self._spellings[kw] = i
            return i, 1 if kw in title_only else 7

        neg = dict(ref(kw) for g in rule["none"] for kw in g)
        pos = dict(ref(kw) for key in ("any", "title_only") for g in rule[key] for kw in g)
        for i in neg:  # a none: keyword also in title_only: is only a title veto
            pos.pop(i, None)
        groups = [dict(ref(kw) for kw in g) for g in rule["all"]]
        return _Tag(name, self.tags.index(name), pos, groups, neg)

    def _scan(self, text: str, b1: int, b2: int, seg: str) -> dict[int, int]:
        """Keyword id -> bitmask of the fields (1 title, 2 summary, 4 categories) it is in."""
        found: dict[int, int] = {}
        n, word, payload = len(text), _WORD, self._payload
        for k, start, end in self._find(text, overlapping=True):
            p = payload[k]
            if p.__class__ is int:  # most keys: one id, no boundary or anchor to check
                found[p] = found.get(p, 0) | (1 if start < b1 else 2 if start < b2 else 4)
                continue
            left, right, free, anchored = p
            if left and start and text[start - 1] in word:
                continue
            if right and end < n and text[end] in word:
                continue
            bit = 1 if start < b1 else 2 if start < b2 else 4
            if anchored and _segment_start(text, start, seg):
                free += anchored
            for i in free:
                found[i] = found.get(i, 0) | bit
        return found

    def _match_first(
        self, title: str, summary: str = "", categories: Sequence[str] = ()
    ) -> list[TagMatch]:
        """`match` until the automata are built: builds them, then answers as `match` will."""
        self._build_automata()
        return self.match(title, summary, categories)

    def _match_rest(
        self, title: str, summary: str, categories: Sequence[str], scanned: object
    ) -> list[TagMatch]:
        """What the compiled match leaves: entries it cannot normalise (scanned is None),
        boilerplate to strip from the summary, and outcomes not yet in the memo."""
        if scanned is None:
            return self.match_python(title, summary, categories)
        key, normalised = scanned  # type: ignore[misc]
        if normalised is not None:  # a keyword in the summary, and maybe boilerplate too
            stripped = boilerplate.regex().sub("\n", normalised)
            if stripped != normalised:
                rescanned = self._scanner.scan(title, stripped, categories, True)  # type: ignore[union-attr]
                if rescanned is None:
                    return self.match_python(title, summary, categories)
                if rescanned.__class__ is int:
                    return []
                key = rescanned[0]
        return self._outcome(key)

    def match_python(
        self, title: str, summary: str = "", categories: Sequence[str] = ()
    ) -> list[TagMatch]:
        """match() without the compiled scanner: the reference it is tested against."""
        if not self._ready:
            self._build_automata()
        title, summary = self._mask(title, summary)
        text = _normalise_fields(title, summary, categories) if self._joined else None
        if text is None:  # a field (or keyword) holds _SEP: normalise field by field
            seg, parts = _SEGMENT, [normalise(title), normalise(summary)]
            text = "\n".join([*parts, "\n".join([normalise(x) for x in categories])])
            b1, b2 = len(parts[0]), len(parts[0]) + 1 + len(parts[1])
        else:
            seg, b1 = _SEGMENT + _SEP, text.index(_SEP)
            b2 = text.find(_SEP, b1 + 1) % (len(text) + 1)  # -1 (no categories) -> len(text)
        found = self._scan(text, b1, b2, seg)
        if self._triggers.keys().isdisjoint(found):  # loops over `found`, the small one
            return []  # fast path: no tag can match, and stripping boilerplate only removes
        # Boilerplate only matters if a keyword was found in the summary.
        if any(map((2).__and__, found.values())):
            s = text[b1 + 1 : b2]
            s2 = boilerplate.regex().sub("\n", s)
            if s2 != s:
                text, b2 = text[: b1 + 1] + s2 + text[b2:], b1 + 1 + len(s2)
                found = self._scan(text, b1, b2, seg)
        return self._outcome(found_key(found))

    def _outcome(self, key: bytes) -> list[TagMatch]:
        """Tags for the keywords found (see found_key). Few sets recur, so they are memoised."""
        if (out := self._memo.get(key)) is None:
            trig, found = self._triggers, found_from_key(key)
            tags = {t.order: t for i in found for t in trig.get(i, ())}
            out = [m for _, tag in sorted(tags.items()) if (m := self._evaluate(tag, found))]
            out.sort(key=lambda m: -m.score)  # stable: ties keep rule order
            if len(self._memo) >= 20_000:
                self._memo.clear()
            self._memo[key] = out
        return list(out)

    def match_entry(self, entry: Entry) -> list[TagMatch]:
        return self.match(entry.title, entry.summary, entry.categories)

    def _evaluate(self, tag: _Tag, found: dict[int, int]) -> TagMatch | None:
        # `found` holds the few keywords present, so loop over it, not over the rule.
        pos = tag.pos
        hits = [(i, f & pos[i]) for i, f in found.items() if i in pos and f & pos[i]]
        if not hits:
            return None
        for g in tag.groups:
            got = [(i, f & g[i]) for i, f in found.items() if i in g and f & g[i]]
            if not got:
                return None
            hits += got
        neg = tag.neg
        if any(i in neg and f & neg[i] for i, f in found.items()):
            return None
        out: dict[Hit, float] = {}
        cache = tag.hit_cache  # frozen dataclasses are slow to build: reuse them
        for i, bits in hits:
            for bit, name, weight in _BITS:
                if bits & bit:
                    if (hit := cache.get((i, bit))) is None:
                        hit = cache[i, bit] = Hit(tag.name, self._spelling[i], name)
                    out[hit] = weight
        return TagMatch(tag.name, tuple(out), sum(out.values()))


def relevance(matches: Iterable[TagMatch]) -> float:
    """Total score: title hits weigh more than summary hits, more tags score higher."""
    return sum(m.score for m in matches)


def compile_rules(rules: Mapping[str, TagRule], extra_tags: Iterable[str] = ()) -> Matcher:
    """Compile tag rules (plus rule-less tags named in reports) into one Matcher."""
    norm: dict[str, dict[str, list[list[str]]]] = {}
    for name, rule in [*rules.items(), *((t, TagRule()) for t in extra_tags)]:
        if name in norm or not normalise(name):
            continue
        norm[name] = {
            "any": _split([name, *rule.any_]),
            "all": _split(rule.all_),
            "none": _split(rule.none_),
            "title_only": _split(rule.title_only),
        }
    parts = [_VERSION, boilerplate.BOILERPLATE_PATTERNS, norm, LOOKALIKES]
    blob = json.dumps(parts, ensure_ascii=False, sort_keys=True)
    return Matcher(norm, hashlib.sha256(blob.encode()).hexdigest())


def _mapped(text: str) -> tuple[str, list[int]]:
    """Normalise per character, remembering each output char's index in `text`."""
    out: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        if ch.isspace():
            if out and out[-1] == " ":
                continue
            n = " "
        else:
            n = unicodedata.normalize("NFKC", ch).casefold()
        out.append(n)
        index.extend([i] * len(n))
    return "".join(out), index


def highlight_spans(text: str, keywords: Iterable[str]) -> list[tuple[int, int]]:
    """Merged, sorted (start, end) spans of the keywords in the ORIGINAL text, for highlighting."""
    norm, index = _mapped(text)
    spans = []
    for kw in keywords:
        for v in _variants(kw):
            start = norm.find(v)
            while start != -1:
                end = start + len(v)
                if not (v[0] in _WORD and start and norm[start - 1] in _WORD) and not (
                    v[-1] in _WORD and end < len(norm) and norm[end] in _WORD
                ):
                    spans.append((index[start], index[end - 1] + 1))
                start = norm.find(v, start + 1)
    merged: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged
