"""Tables for the compiled scanner (match/_scan.c) that normalises and scans in one pass.

The C side only walks what is built here: a per-character normalisation table, an
Aho-Corasick automaton over the normalised keywords, and each key's meaning. The
per-character table is exact only where NFKC works character by character, so every
character that can change its neighbours (combining marks, Hangul jamo), that needs markup
or entity handling ('<', '&'), or that is a space the Python matcher treats unevenly, is
marked DANGER: the scanner then answers None and the Python path takes that entry.
Without a C compiler at install time there is no scanner and Python does all the work.
"""

from __future__ import annotations

import unicodedata
from array import array
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from typing import Any

try:
    from reportwatch.match._scan import Scanner
except ImportError:  # built without a compiler: the Python matcher does everything
    Scanner = None  # type: ignore[assignment,misc]

DANGER = 0xFFFFFFFF
SPACE = 0xFFFFFFFE
EXPAND = 0x80000000
F_LEFT, F_RIGHT, F_MARKER, F_PAYLOAD = 1, 2, 4, 8
Payload = int | tuple[bool, bool, tuple[int, ...], tuple[int, ...]]

_JAMO = ((0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xD7B0, 0xD7FF))
_category, _combining, _nfkc = unicodedata.category, unicodedata.combining, unicodedata.normalize


def _composes(ch: str) -> bool:
    """Could NFKC combine or reorder this character with its neighbour?"""
    code = ord(ch)
    return (
        _category(ch)[0] == "M" or _combining(ch) != 0 or any(lo <= code <= hi for lo, hi in _JAMO)
    )


def char_value(code: int) -> str | int:
    """What one BMP character becomes (NFKC, then casefold), or DANGER / SPACE."""
    ch = chr(code)
    if 0xD800 <= code <= 0xDFFF or ch in "<&":
        return DANGER
    if ch in " \t\n\r":
        return SPACE
    nfkc = _nfkc("NFKC", ch)
    if ch.isspace():  # other spaces: only those NFKC makes a plain space collapse alike
        return SPACE if nfkc == " " else DANGER
    if _composes(ch) or any(map(_composes, nfkc)):
        return DANGER
    folded = nfkc.casefold()
    if any(c.isspace() or c > "\uffff" for c in folded):
        return DANGER
    return folded


_MOVING = frozenset(("Mn", "Mc", "Me", "Zs", "Zl", "Zp", "Cc"))  # marks, spaces, controls


def _plain(base: int, size: int) -> bool:
    """Every character of the block stays as it is: NFKC and case folded already, no mark,
    space, control, '<' or '&', and no Hangul jamo. Checked for the whole block at once."""
    if any(lo <= base + size - 1 and base <= hi for lo, hi in (*_JAMO, (0xD800, 0xDFFF))):
        return False
    block = "".join(map(chr, range(base, base + size)))
    return (
        unicodedata.is_normalized("NFKC", block)
        and block.casefold() == block
        and _MOVING.isdisjoint(map(_category, block))
        and "<" not in block
        and "&" not in block
    )


@cache
def normalisation_tables() -> tuple[bytes, bytes]:
    """(value per BMP code point, expansion code points), as the C scanner reads them.
    Blocks that stay as they are (most of the BMP) are checked at once, then halves of the
    others, down to single characters: ~10x faster than character by character."""
    values = array("I", range(65536))
    expand = array("I")

    def fill(base: int, size: int) -> None:
        if 0xD800 <= base <= 0xDFFF:  # surrogates come in whole blocks: never text
            values[base : base + size] = array("I", [DANGER]) * size
        elif size > 4 and not _plain(base, size):
            fill(base, size // 2)
            fill(base + size // 2, size // 2)
        elif size <= 4 and not _plain(base, size):
            for code in range(base, base + size):
                v = char_value(code)
                if isinstance(v, int):
                    values[code] = v
                elif len(v) == 1:
                    values[code] = ord(v)
                else:
                    values[code] = EXPAND | len(expand) << 8 | len(v)
                    expand.extend(map(ord, v))

    for base in range(0, 65536, 64):
        fill(base, 64)
    return values.tobytes(), expand.tobytes()


def match_prefixes(pattern: str, longest: int = 6, most: int = 64) -> set[str] | None:
    """Strings one of which starts every match of `pattern` (compiled with IGNORECASE) in
    normalised text, where spaces come single. None when nothing certain can be said.

    Walks the parsed expression: literals extend the prefixes, small character classes,
    alternatives and optional parts branch them, anything else ends them.
    """
    try:
        from re import _constants as C
        from re import _parser
    except ImportError:
        return None
    small = {C.LITERAL, C.CATEGORY}

    def chars(op: object, av: object) -> list[str] | None:
        if op is C.LITERAL:
            return [chr(av)]  # type: ignore[arg-type]
        if op is C.IN and all(o in small for o, _ in av) and len(av) <= 8:  # type: ignore[union-attr]
            out = []
            for o, v in av:  # type: ignore[union-attr]
                if o is C.CATEGORY and v is not C.CATEGORY_SPACE:
                    return None
                out.append(" " if o is C.CATEGORY else chr(v))
            return out
        return None

    def walk(items: object, open_: set[str]) -> tuple[set[str], set[str]]:
        done: set[str] = set()
        for op, av in items:  # type: ignore[attr-defined]
            if not open_:
                break
            if (cs := chars(op, av)) is not None:
                open_ = {p + c for p in open_ for c in cs}
            elif op is C.SUBPATTERN:
                d, open_ = walk(av[-1], open_)  # type: ignore[index]
                done |= d
            elif op is C.BRANCH:
                branches = [walk(alt, open_) for alt in av[1]]  # type: ignore[index]
                done |= {p for d, _ in branches for p in d}
                open_ = {p for _, o in branches for p in o}
            elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
                low, high, sub = av  # type: ignore[misc]
                d, once = walk(sub, open_)
                done |= d
                if high != 1:  # more repetitions may follow: what one gave is all we know
                    done, once = done | once, set()
                open_ = once if low else open_ | once
            else:
                done, open_ = done | open_, set()
            if len(open_) > most or any(len(p) >= longest for p in open_):
                done, open_ = done | open_, set()
        return done, open_

    done, open_ = walk(_parser.parse(pattern), {""})
    prefixes = {p.casefold() for p in done | open_}
    return None if "" in prefixes or len(prefixes) > most else prefixes


def _automaton(keys: Sequence[str], classes: dict[str, int]) -> tuple[array, ...]:
    """Aho-Corasick over character classes: root row, sorted transitions, fail and output."""
    goto: list[dict[int, int]] = [{}]
    own: list[list[int]] = [[]]
    for k, key in enumerate(keys):
        if not all(ch in classes for ch in key):
            continue  # beyond the BMP: such text always goes the Python way, so it never matches
        state = 0
        for ch in key:
            nxt = goto[state].get(classes[ch])
            if nxt is None:
                nxt = goto[state][classes[ch]] = len(goto)
                goto.append({})
                own.append([])
            state = nxt
        own[state].append(k)
    order = [0]  # breadth first: each state's fail target (shorter) is numbered before it
    for state in order:
        order.extend(goto[state].values())
    number = {old: new for new, old in enumerate(order)}
    fail = [0] * len(goto)
    out: list[list[int]] = [[] for _ in goto]
    for state in order[1:]:
        out[state] = own[state] + out[fail[state]]
        for c, nxt in goto[state].items():
            f = fail[state]
            while f and c not in goto[f]:
                f = fail[f]
            fail[nxt] = goto[f].get(c, 0)
    root = array("i", [0] * (len(classes) + 1))
    for c, nxt in goto[0].items():
        root[c] = number[nxt]
    tr_start, tr_cls, tr_next = array("i", [0]), array("i"), array("i")
    out_start, out_keys = array("i", [0]), array("i")
    for state in order:
        for c in sorted(goto[state]):
            tr_cls.append(c)
            tr_next.append(number[goto[state][c]])
        tr_start.append(len(tr_cls))
        out_keys.extend(out[state])
        out_start.append(len(out_keys))
    fails = array("i", (number[fail[state]] for state in order))
    return root, tr_start, tr_cls, tr_next, fails, out_start, out_keys


def build_scanner(
    keys: Sequence[str],
    payload: Sequence[Payload],
    markers: Iterable[str],
    triggers: Iterable[int],
    keyword_count: int,
    memo: dict[bytes, Any],
    fallback: Callable[..., Any],
) -> Scanner | None:
    """A compiled scanner for these automaton keys, or None where only Python can match.

    Its match() answers from `memo` (key: see found_key) and calls `fallback` for the rest.
    """
    markers = [m for m in dict.fromkeys(markers) if m]
    if Scanner is None or any(m.casefold() != m or not m.isprintable() for m in markers):
        return None
    keys = list(keys)
    flags = [F_PAYLOAD if isinstance(p, int) else F_PAYLOAD | p[0] * F_LEFT | p[1] * F_RIGHT
             for p in payload]  # fmt: skip
    index = {key: k for k, key in enumerate(keys)}
    for m in markers:
        if m in index:
            flags[index[m]] |= F_MARKER
        else:
            keys.append(m)
            flags.append(F_MARKER)
    text = "".join(keys)
    if not text or "\x00" in text:
        return None
    bmp = sorted(ch for ch in set(text) if ch <= "\uffff")
    classes = {ch: i for i, ch in enumerate(bmp, start=1)}
    cls = array("H", bytes(2 * 65536))
    for ch, i in classes.items():
        cls[ord(ch)] = i
    ids_start, nfree, nanch, ids = array("i"), array("i"), array("i"), array("i")
    for k in range(len(keys)):
        p = payload[k] if k < len(payload) else ((), ())
        free, anchored = ((p,), ()) if isinstance(p, int) else p[-2:]
        ids_start.append(len(ids))
        nfree.append(len(free))
        nanch.append(len(anchored))
        ids.extend([*free, *anchored])
    trigger = bytearray(keyword_count)
    for i in triggers:
        trigger[i] = 1
    norm, expand = normalisation_tables()
    tables = (
        norm, expand, cls.tobytes(),
        *(a.tobytes() for a in _automaton(keys, classes)),
        array("i", map(len, keys)).tobytes(), array("i", flags).tobytes(),
        ids_start.tobytes(), nfree.tobytes(), nanch.tobytes(), ids.tobytes(), bytes(trigger),
    )  # fmt: skip
    return Scanner(tables, keyword_count, memo, fallback)


def found_key(found: dict[int, int]) -> bytes:
    """The scanner's memo key: (keyword id, field bits) int32 pairs sorted by id."""
    return array("i", [x for pair in sorted(found.items()) for x in pair]).tobytes()


def found_from_key(key: bytes) -> dict[int, int]:
    pairs = array("i")
    pairs.frombytes(key)
    return dict(zip(pairs[::2], pairs[1::2], strict=True))
