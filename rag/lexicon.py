"""News vocabulary: words that name the same thing ("died", "killed", "claimed the lives of").

A small curated table, not a thesaurus: each class is a few stems a news story uses for one
notion (casualties, attacks, arrests, troops). `concepts("two U.S. service members died")`
-> {"@death", "@troops", "@america", ...}; a question word then matches a sentence when
both fall in one class. Broader words ("weapons") are also met by narrower ones ("shells"),
never the other way round, so "how many shells" is not answered by a count of weapons.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rag.terms import DEMONYMS, stem, terms, words

# Words of one class are interchangeable in a question and in the sentence answering it.
_CLASSES = {
    "@death": "die died dies dead death deaths kill killed killing kills fatal fatalities slain"
              " perish perished deadly",
    "@injury": "injure injured injuries injury injuring wound wounded wounding wounds hurt",
    "@attack": "attack attacked attacks assault assaulted ambush ambushed raid raided shooting",
    "@arrest": "arrest arrested arrests detain detained detention apprehend apprehended",
    "@seize": "seize seized seizure seizures confiscate confiscated",
    "@troops": "troop troops soldier soldiers servicemen serviceman",
    "@official": "official officials spokesman spokeswoman spokesperson spokesmen",
    "@speech": "speak spoke spoken speaking say says said tell told state stated remark",
    "@blame": "blame blamed attribute attributed responsible responsibility",
    "@flee": "flee fled fleeing displaced displacement",
    "@destroy": "destroy destroyed destroying destruction demolish demolished",
    "@isis": "daesh isis isil",
    "@strike": "strike strikes airstrike airstrikes bombing bombings bombardment",
}
# Narrower words that also answer a question asking with the broader one.
_NARROWER = {
    "@weapon": "shell shells gun guns mine mines rocket rockets missile missiles munitions"
               " explosive explosives artillery",
}
# Phrases a single word cannot catch, on the raw text.
_PHRASES = [
    (re.compile(r"\b(?:claimed|cost|took) the lives?\b|\blost (?:their|his|her) lives?\b",
                re.IGNORECASE), "@death"),
    (re.compile(r"\bservice (?:members?|personnel)\b", re.IGNORECASE), "@troops"),
    (re.compile(r"\bopened fire\b", re.IGNORECASE), "@attack"),
    (re.compile(r"\bIslamic State\b|\bIS\b"), "@isis"),
    (re.compile(r"\bU\.S\.(?=\W|$)|\bUS\b|\bUnited States\b"), "@america"),
]
# Classes of things that happen and are counted: "how many died" asks for a count of deaths.
EVENTS = frozenset({"@death", "@injury", "@arrest", "@seize", "@flee", "@destroy"})
COUNTRIES = frozenset(f"@{country}" for country in DEMONYMS.values()) | {"@america"}


def _stem_table(classes: dict[str, str]) -> dict[str, str]:
    return {stem(word): concept for concept, members in classes.items()
            for word in members.split()}


_EQUIVALENT = _stem_table(_CLASSES)
_BROADER = _stem_table(_NARROWER)
_ASKED_BROADER = _stem_table({c: c.removeprefix("@") + "s" for c in _NARROWER} | {
    c: c.removeprefix("@") for c in _NARROWER})  # "weapon(s)" in a question asks the class


_MEMBERS = {name: [t for t, c in _EQUIVALENT.items() if c == name] for name in _CLASSES}


def alternatives(term: str) -> list[str]:
    """The other stems of `term`'s class ("kill" -> ["die", "dead", ...]); [] outside one.
    Retrieval adds them to the query at a lower weight."""
    return [t for t in _MEMBERS.get(_EQUIVALENT.get(term, ""), []) if t != term]


@lru_cache(maxsize=65536)
def concept(term: str) -> str:
    """The class a question's stem belongs to ("kill" -> "@death"), or the stem itself."""
    return _EQUIVALENT.get(term) or _ASKED_BROADER.get(term) or _country(term) or term


def is_broad(term: str) -> bool:
    """A question word that narrower words answer: "weapon" (by "shells", "mines")."""
    return term in _ASKED_BROADER


def evidence(text: str) -> set[str]:
    """What a passage offers a question: its stems and the classes it names."""
    return set(terms(text)) | concepts(text)


def concepts(text: str) -> set[str]:
    """The classes named anywhere in `text`, as words, as narrower words and as phrases."""
    found: set[str] = set()
    for word in words(text):
        term = stem(word)
        found |= {c for c in (_EQUIVALENT.get(term), _BROADER.get(term), _country(term)) if c}
    found |= {name for pattern, name in _PHRASES if pattern.search(text)}
    return found


def _country(term: str) -> str | None:
    return f"@{term}" if f"@{term}" in COUNTRIES else None
