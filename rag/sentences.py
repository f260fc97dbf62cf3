"""The system's one sentence splitter, as offsets, so chunks and quotes stay exact.

The chunker packs `sentence_spans` into chunks; the answerer quotes `split_sentences`, the
same sentences with stray fragments left out. (The eval scorer keeps its own splitter, apart
from the system it scores.)

>>> sentence_spans("He left. U.S. troops stayed.")
[(0, 8), (9, 28)]

A sentence ends at . ! ? (plus closing quotes or brackets) before whitespace and a capital,
a digit or an opening quote or bracket, unless the full stop closes a known abbreviation or an
initial ("Gen.", "U.S.", "John F. Kennedy"); a line break always ends one.
"""

from __future__ import annotations

import re

_BREAK = re.compile(r"(?<=[.!?])[\"”’')\]]*(?=\s+[\"“‘'(\[]?[A-Z0-9])|\n")
_ABBREVIATION_LIST = """mr mrs ms dr prof gen col lt sgt cmdr capt maj adm gov sen rep st
    jr sr rev no vs etc inc ltd co corp dept ft mt approx jan feb mar apr jun jul aug sep sept
    oct nov dec u.s u.n u.k e.g i.e a.m p.m"""
_ABBREVIATIONS = frozenset(_ABBREVIATION_LIST.split())
# Leading characters that are layout, not sentence: bullets, dashes, spaces.
_LEAD = "•·*-–—\u00a0"
_MIN_CHARS = 12


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) offsets of every sentence within text[start:end], trimmed of white
    space; together they hold all of the span's text but the white space between them."""
    end = len(text) if end is None else end
    pieces, cursor = [], start
    for match in _BREAK.finditer(text, start, end):
        if match.group() != "\n" and _closes_abbreviation(text, match.start() - 1):
            continue
        pieces.append((cursor, match.end()))
        cursor = match.end()
    pieces.append((cursor, end))
    return [trimmed for a, b in pieces if (trimmed := trim(text, a, b))]


def split_sentences(text: str, min_chars: int = _MIN_CHARS) -> list[tuple[int, int]]:
    """The sentences of `text` worth quoting: leading bullets and dashes trimmed, and pieces
    shorter than `min_chars` (stray fragments) left out."""
    spans = [trim(text, s, e, lead=_LEAD) for s, e in sentence_spans(text)]
    return [(s, e) for s, e in filter(None, spans) if e - s >= min_chars]


def _closes_abbreviation(text: str, dot: int) -> bool:
    """True when the full stop at `dot` closes "U.S", "Gen", "a.m" or an initial like "J"."""
    if text[dot] != ".":
        return False
    word = re.search(r"[A-Za-z.]*$", text[max(0, dot - 12):dot]).group()
    return word.lower() in _ABBREVIATIONS or (len(word) == 1 and word.isupper())


def trim(text: str, start: int, end: int, lead: str = "") -> tuple[int, int] | None:
    """text[start:end] without white space (or `lead` characters) at its start and white
    space at its end (None if nothing is left)."""
    while start < end and (text[start].isspace() or text[start] in lead):
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None
