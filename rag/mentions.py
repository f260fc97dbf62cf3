"""The names and numbers a text mentions, as plain English typography shows them: what an
LLM's claim must share with the passages it cites (`rag/validate.py`).

`names("He met Cmdr. Jessica McNulty in Baghdad.")` -> {"Jessica McNulty"}
`number_values("killing four officers and 140,000 fled")` -> {"4", "140000"}
"""

from __future__ import annotations

import re

from rag.terms import words

_NUMBER_WORD_LIST = """one two three four five six seven eight nine ten eleven twelve
    thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty
    sixty seventy eighty ninety hundred hundreds thousand thousands million millions billion
    dozen dozens half first second third fourth fifth"""
_NUMBER_WORDS = frozenset(_NUMBER_WORD_LIST.split())
_SMALL_NUMBERS = """zero one two three four five six seven eight nine ten eleven twelve
    thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty"""
_DIGITS_OF = {word: str(value) for value, word in enumerate(_SMALL_NUMBERS.split())}
# A period after these ends a title, not a sentence: "Cmdr. Jessica McNulty".
_ABBREVIATION_LIST = "gen col lt sgt adm cmdr capt maj mr mrs ms dr st sen rep gov"
_TITLE_ABBREVIATIONS = frozenset(_ABBREVIATION_LIST.split())
_NAME_WORD = r"[A-Z][a-z’'\-]+(?:[A-Z][a-z’'\-]+)?"  # "McNulty" too
_NAME = re.compile(rf"(?<!^)\b{_NAME_WORD}(?:\s+(?:al-|Al-)?{_NAME_WORD})+")


def numbers(text: str) -> set[str]:
    """Numbers in `text`, as digits or number words: "killing four officers" -> {"four"}."""
    found = set(re.findall(r"\d[\d,.]*\d|\d", text))
    found |= {w for w in words(text) if w in _NUMBER_WORDS}
    return found


def number_value(number: str) -> str:
    """One of numbers() made comparable: "four" -> "4", "140,000" -> "140000"."""
    return _DIGITS_OF.get(number, number).replace(",", "")


def number_values(text: str) -> set[str]:
    return {number_value(n) for n in numbers(text)}


def names(text: str) -> set[str]:
    """Capitalised multi-word names, e.g. "Hakan Fidan", "Central Command"; not the capitals
    that open a sentence, but those after a title's period ("Cmdr. Jessica McNulty")."""
    return {m.group() for m in _NAME.finditer(text) if not _opens_sentence(text, m.start())}


def _opens_sentence(text: str, start: int) -> bool:
    before = text[:start].rstrip()
    if not before.endswith((".", "!", "?")):
        return False
    last = re.search(r"(\w+)\W*$", before)
    return not (last and last.group(1).lower() in _TITLE_ABBREVIATIONS)
