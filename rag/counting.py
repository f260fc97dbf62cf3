"""What a "how many" question counts, and whether a sentence's number counts it.

"How many Syrian soldiers died?" counts soldiers (of Syria): "two American troops died"
gives a count of troops, but of another country's, so it does not answer it. "How many
people died?" names no particular noun: any count qualifies if the sentence tells of a death.
"""

from __future__ import annotations

import re

from rag.answer_types import number_value
from rag.lexicon import COUNTRIES, EVENTS, concept, evidence
from rag.terms import IRREGULAR, STOP_WORDS, stem, terms, words

# Heads of "how many X" that any counted noun satisfies; they weigh little as evidence.
GENERIC_HEADS = frozenset({"peopl", "person", "time", "casualti", "victim", "individu", "other"})
_NUMBER = re.compile(
    r"\b(?:\d[\d,.]*\d|\d|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
    r"|fifteen|twenty|thirty|forty|fifty|hundred|hundreds|thousand|thousands|dozens?)\b",
    re.IGNORECASE,
)
_FOLLOWING = re.compile(r"(?:[^\w]+[\w.’'\-]+){1,5}")  # the few words after a number
_FOLLOWING_WORD = re.compile(r"[\w.’'\-]+")
HEAD_WORDS = 2  # "how many American troops" -> ["america", "troop"]


def counted_terms(question: str) -> list[str]:
    """The stems of the phrase after "how many", up to its verb: what is counted, its head
    last: "How many ISIS fighters were killed?" -> ["isi", "fighter"]; [] if none."""
    lowered = question.lower()
    if "how many" not in lowered:
        return []
    phrase = []
    for word in words(lowered.split("how many", 1)[1])[:HEAD_WORDS + 1]:
        if word in STOP_WORDS and word != "us" or _verb(word):
            break
        if word != "us":
            phrase.append(stem(word))
    return phrase


def _verb(word: str) -> bool:
    """Ends the counted phrase: "died", "killed", "fled", "arrested"."""
    return word.endswith("ed") or word in IRREGULAR or concept(stem(word)) in EVENTS


def generic_head(question: str) -> str | None:
    """The counted word when it is generic ("people", "others"), else None."""
    counted = counted_terms(question)
    return counted[-1] if counted and counted[-1] in GENERIC_HEADS else None


def counts_the_noun(sentence: str, question: str, context: set[str] | None = None) -> bool:
    """For "how many X": some number of the sentence counts X ("four officers" answers "how
    many security officers"), of the asked country if one is named, and the sentence tells
    of the event counted, if the question names one: "how many soldiers died" wants a death,
    not an injury. A generic X ("people") accepts any count of the event. A country asked
    about ("American troops") must be named in the sentence or its `context`."""
    counted = counted_terms(question)
    if not counted:
        return True
    found = evidence(sentence)
    if not events(question) <= found:
        return False
    countries = {concept(t) for t in counted} & COUNTRIES
    if countries and not countries & (found | (context or set())):
        return False
    if counted[-1] in GENERIC_HEADS:
        return True
    return any(_counts(phrase, counted) for phrase in number_phrases(sentence))


def events(question: str) -> set[str]:
    """The countable events the question names: {"@death"} for "how many died"."""
    return {concept(t) for t in terms(question)} & EVENTS


def number_phrases(sentence: str) -> list[str]:
    """The words right after each number: "killed two U.S. service members" -> ["U.S. service
    members ..."] (raw text, so phrases such as "service members" are still recognised)."""
    phrases = []
    for match in _NUMBER.finditer(sentence):
        following = _FOLLOWING.match(sentence, match.end())
        if following:
            phrases.append(following.group())
    return phrases


def _counts(phrase: str, counted: list[str]) -> bool:
    """The phrase after a number names the counted noun, and no other country before it:
    "two American troops" is not a count of Syrian soldiers; "311 IS attacks in Syria" still
    counts attacks for a question about Iraq (the country after the noun places it)."""
    asked_countries = {concept(t) for t in counted} & COUNTRIES
    head = counted[-1]  # "ISIS fighters": a count of Daesh gunmen is not one of fighters
    tokens = _FOLLOWING_WORD.findall(phrase)
    for end in range(1, len(tokens) + 1):
        found = evidence(" ".join(tokens[:end]))
        if _meets(head, found):
            return not (asked_countries and (found & COUNTRIES) - asked_countries)
    return False


def _meets(term: str, found: set[str]) -> bool:
    return term in found or concept(term) in found


def tallies(sentence: str) -> list[tuple[str, set[str]]]:
    """Each count of the sentence as (value, what it counts): "two American troops and one
    civilian" -> [("2", {"troop", "@troops"}), ("1", {"civilian"})]. What is counted is the
    words after the number up to a verb or a function word, countries left out (they qualify)."""
    found = []
    for match in _NUMBER.finditer(sentence):
        following = _FOLLOWING.match(sentence, match.end())
        phrase = []
        for token in _FOLLOWING_WORD.findall(following.group() if following else ""):
            word = token.lower().strip(".")
            if word in STOP_WORDS and word != "us" or word in _PHRASE_ENDS or _verb(word):
                break
            phrase.append(token)
        counted = {t for t in evidence(" ".join(phrase))
                   if len(t) > 2 and t != "us" and concept(t) not in COUNTRIES}
        if counted:
            found.append((number_value(match.group().lower()), counted))
    return found


# Prepositions and conjunctions a counted noun phrase ends at, beside the stop words.
_PHRASE_ENDS = frozenset({"near", "outside", "inside", "across", "during", "after", "before",
                          "when", "while", "since", "including", "among", "amid"})


def names_the_same_count_differently(first: str, second: str, question: str) -> bool:
    """"How many people died?": both sentences give one count alike ("two American troops" /
    "two U.S. service members") and then the same number of something each names otherwise
    ("one civilian" / "one local interpreter"). Only for a generic "how many people" question,
    where every named group is part of the answer."""
    if generic_head(question) is None:
        return False
    a, b = tallies(first), tallies(second)
    if sorted(v for v, _ in a) != sorted(v for v, _ in b):  # the same numbers, nothing more
        return False
    if not any(_alike(x, y) for x in a for y in b):
        return False
    return any(not any(_alike(x, y) for y in b) for x in a)


def _alike(x: tuple[str, set[str]], y: tuple[str, set[str]]) -> bool:
    return x[0] == y[0] and bool(x[1] & y[1])
