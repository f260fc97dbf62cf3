"""Sentence spans inside a chunk of article text, as offsets, so quotes stay exact.

`split_sentences("He left. U.S. troops stayed.")` -> [(0, 8), (9, 28)]: a period after
a known abbreviation or an initial does not end a sentence; a line break always does.
"""

from __future__ import annotations

import re

# A sentence may end at . ! ? (plus closing quotes/brackets) followed by space.
_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s)")
_ABBREVIATION_LIST = """mr mrs ms dr gen col cmdr lt sgt adm gov sen rep st jr sr
    u.s u.n u.k a.m p.m
    jan feb mar apr aug sep sept oct nov dec no vs etc inc corp ltd co dept maj capt"""
_ABBREVIATIONS = frozenset(_ABBREVIATION_LIST.split())
# Leading characters that are layout, not sentence: bullets, dashes, spaces.
_LEAD = " \t•·*-–—\u00a0"
_MIN_CHARS = 12


def split_sentences(text: str, min_chars: int = _MIN_CHARS) -> list[tuple[int, int]]:
    """(start, end) offsets into `text` of its sentences, whitespace and bullets trimmed;
    pieces shorter than `min_chars` (stray fragments) are left out."""
    spans: list[tuple[int, int]] = []
    line_start = 0
    for line in text.split("\n"):
        spans.extend(_split_line(line, line_start))
        line_start += len(line) + 1
    return [(s, e) for s, e in spans if e - s >= min_chars]


def _split_line(line: str, offset: int) -> list[tuple[int, int]]:
    spans, start = [], 0
    for match in _END.finditer(line):
        if _is_abbreviation(line, match.start()):
            continue
        spans.append(_trimmed(line, start, match.end(), offset))
        start = match.end()
    spans.append(_trimmed(line, start, len(line), offset))
    return [(s, e) for s, e in spans if e > s]


def _is_abbreviation(line: str, dot: int) -> bool:
    """True when the period at `dot` closes "U.S", "Gen", "a.m" or an initial like "J"."""
    if line[dot] != ".":
        return False
    word = re.search(r"[A-Za-z.]*$", line[:dot]).group()
    return word.lower() in _ABBREVIATIONS or (len(word) == 1 and word.isupper())


def _trimmed(line: str, start: int, end: int, offset: int) -> tuple[int, int]:
    while start < end and line[start] in _LEAD:
        start += 1
    while end > start and line[end - 1].isspace():
        end -= 1
    return offset + start, offset + end
