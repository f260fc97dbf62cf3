"""What kind of answer a question asks for, and whether a sentence carries one.

`expected_type("How many troops died?")` -> NUMBER; a sentence answers it only if it
holds a number the question does not already contain, e.g. "two American troops".
"""

from __future__ import annotations

import re
from enum import Enum

from rag.terms import DEMONYMS, stem, terms, words


class AnswerType(str, Enum):
    NUMBER = "number"
    DATE = "date"
    PERSON = "person"
    PLACE = "place"
    REASON = "reason"
    STATEMENT = "statement"
    ANY = "any"


# "which/what" plus up to two modifiers before the noun: "which US officials", "in which
# Syrian provinces".
_WHICH = r"\b(?:which|what)\s+(?:[\w\-]+\s+){0,2}?"
_PERSON_NOUNS = (r"(?:officials?|ministers?|presidents?|leaders?|commanders?|groups?|persons?"
                 r"|people|spokes(?:man|men|woman|person)|envoys?|diplomats?|generals?)\b")
_PLACE_NOUNS = (r"(?:city|cities|country|countries|provinces?|towns?|regions?|districts?|areas?"
                r"|villages?|deserts?|countryside|borders?|neighbou?rhoods?|capital)\b")
# Quantities asked by name: "What is the population of Palmyra?" wants a number.
_QUANTITIES = (r"\bwhat (?:is|was|are|were) the (?:\w+ )?(?:population|death toll|toll|size"
               r"|cost|value|price|number|amount|budget|age|percentage)\b")
_QUESTION_PATTERNS = [
    (AnswerType.NUMBER, (r"\bhow (many|much|long|old|far|large|big)\b"
                        r"|\bwhat (number|percentage|share)\b|\bnumber of\b|" + _QUANTITIES)),
    (AnswerType.DATE, (r"\bwhen\b|\bwhat (date|day|year|month|time)\b"
                       r"|\bwhich (dates?|days?|years?|months?)\b|\bsince when\b")),
    (AnswerType.PERSON, (r"\bwho\b|\bwhom\b|\bwhose\b|\bwhat(?:'s| is| was| are| were) the names?\b"
                        r"|" + _WHICH + _PERSON_NOUNS)),
    (AnswerType.PLACE, r"\bwhere\b|" + _WHICH + _PLACE_NOUNS),
    (AnswerType.REASON, r"\bwhy\b|\bfor what reason\b|\bwhat (caused|prompted|led to)\b"),
    (AnswerType.STATEMENT, (r"\bwhat (did|does|do|has|have|had)\b.*\b(say|said|tell|told|warn"
                            r"|claim|state|announce|accuse)\w*\b")),
]

_NUMBER_WORD_LIST = """one two three four five six seven eight nine ten eleven twelve thirteen
    fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy
    eighty ninety hundred hundreds thousand thousands million millions billion dozen dozens
    half first second third fourth fifth"""
_NUMBER_WORDS = frozenset(_NUMBER_WORD_LIST.split())
_MONTHS = (r"jan(uary)?|feb(ruary)?|march|mar|apr(il)?|may|june?|july?|aug(ust)?"
           r"|sep(t|tember)?|oct(ober)?|nov(ember)?|dec(ember)?")
_DATE = re.compile(
    rf"\b({_MONTHS})\b\.?|\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b"
    r"|\b(1[89]\d\d|20\d\d)\b|\b(yesterday|today|tonight|overnight|last (year|month|week|night))\b"
    r"|\b(earlier|later) (this|that) (year|month|week)\b|\b\d{1,2}(:\d\d)?\s*(a\.m|p\.m)\b",
    re.IGNORECASE,
)
_OFFICE = re.compile(
    r"\b(president|minister|secretary|spokesm[ae]n|spokeswoman|spokesperson|official|officials"
    r"|commander|envoy|leader|general|admiral|ministry|command|government|army|forces|police"
    r"|council|councils|presidency|pentagon|coalition)\b",
    re.IGNORECASE,
)
# A capitalised word after a place preposition, and the place noun it may qualify: "across
# the Syrian desert" names a place even when "Syrian" is already in the question.
_PLACE = re.compile(
    r"\b(in|near|at|from|into|across|outside|inside|south of|north of|east of|west of)"
    r"\s+(the\s+)?[A-Z][\w’'\-]+(?:\s+" + _PLACE_NOUNS + ")?",
)
_REASON = re.compile(
    r"\b(because|due to|in response to|after|designed to|intended to|aimed at|in order to"
    r"|retaliation|so that|as a result|following|to protect|to prevent|to send)\b",
    re.IGNORECASE,
)
_SPEECH = re.compile(
    r"[\"“”]|\b(said|says|say|stated|told|expressed|warned|urged|called|accused|announced|added"
    r"|emphasi[sz]ed|hailed|vowed|affirmed|wrote|tweeted|claimed|described)\b",
    re.IGNORECASE,
)
# Words that make a capitalised name an organisation rather than a person.
_ORG_WORD_LIST = """Command Ministry Forces Force Council Councils Coalition Observatory Act
    Department Office Group State States Accords Resolve House Nations Army Party Agency"""
_ORG_WORDS = frozenset(_ORG_WORD_LIST.split())
# Words that make a "name" of capitals alone: nationalities and titles.
_TITLE_LIST = """gen col lt sgt adm cmdr capt maj mr mrs ms dr president minister secretary
    general admiral colonel navy army"""
_ABBREVIATION_LIST = "gen col lt sgt adm cmdr capt maj mr mrs ms dr st sen rep gov"
_TITLE_ABBREVIATIONS = frozenset(_ABBREVIATION_LIST.split())
_NOT_NAMES = frozenset(DEMONYMS) | frozenset(_TITLE_LIST.split())
_NAME_WORD = r"[A-Z][a-z’'\-]+(?:[A-Z][a-z’'\-]+)?"  # "McNulty" too
_NAME = re.compile(rf"(?<!^)\b{_NAME_WORD}(?:\s+(?:al-|Al-)?{_NAME_WORD})+")


def expected_type(question: str) -> AnswerType:
    """The answer type the question's wording asks for (first matching pattern wins)."""
    lowered = question.lower().replace("’", "'")
    for answer_type, pattern in _QUESTION_PATTERNS:
        if re.search(pattern, lowered):
            return answer_type
    return AnswerType.ANY


def carries_type(sentence: str, answer_type: AnswerType, question: str) -> bool:
    """True when `sentence` holds something of `answer_type` that `question` does not."""
    if answer_type is AnswerType.ANY:
        return True
    asked = set(words(question))
    if answer_type is AnswerType.NUMBER:
        return bool(numbers(sentence) - {n for n in numbers(question)})
    if answer_type is AnswerType.DATE:
        return any(not _only_in_question(m.group(), question) for m in _DATE.finditer(sentence))
    if answer_type is AnswerType.PERSON:
        return bool(_new_names(sentence, question)) or bool(_new_matches(_OFFICE, sentence, asked))
    if answer_type is AnswerType.PLACE:
        return any(_new_names(m.group(), question) or _last_word(m.group()) not in asked
                   for m in _PLACE.finditer(sentence))
    if answer_type is AnswerType.STATEMENT:
        return bool(_SPEECH.search(sentence))
    return bool(_REASON.search(sentence))


def person_names(text: str) -> set[str]:
    """Names that look like people's: "Hakan Fidan", not "Central Command", "The Associated
    Press" or "Iranian Gen" (a nationality and a title name no one)."""
    return {n for n in names(text) if not set(n.split()) & _ORG_WORDS
            and not n.startswith("The ") and not set(words(n)) <= _NOT_NAMES}


def role_terms(question: str) -> list[str]:
    """The head of the role asked about and its modifier, as stems:
    "Who is Syria's foreign minister?" -> ["foreign", "minist"];
    "Who is the US envoy to Syria?" -> ["envoy"]."""
    match = re.search(r"\b(?:who (?:is|was|are|were)|names? of)\s+(.*)", question, re.IGNORECASE)
    if not match:
        return []
    phrase = re.split(r"\b(?:to|of|in|for|at|on|from|with|who|that|whom|killed|during)\b",
                      match.group(1), maxsplit=1)[0]
    return terms(phrase)[-2:]


def names_near(sentence: str, anchors: list[str], window: int = 4) -> bool:
    """True when a person's name in `sentence` stands within `window` words of an anchor stem."""
    tokens = [stem(w) for w in words(sentence)]
    for name in person_names(sentence):
        name_tokens = [stem(w) for w in words(name)]
        for i in range(len(tokens) - len(name_tokens) + 1):
            if tokens[i:i + len(name_tokens)] == name_tokens:
                nearby = tokens[max(0, i - window):i + len(name_tokens) + window]
                if set(anchors) <= set(nearby):
                    return True
    return False


def numbers(text: str) -> set[str]:
    """Numbers in `text`, as digits or number words: "killing four officers" -> {"four"}."""
    found = set(re.findall(r"\d[\d,.]*\d|\d", text))
    found |= {w for w in words(text) if w in _NUMBER_WORDS}
    return found


_SMALL_NUMBERS = """zero one two three four five six seven eight nine ten eleven twelve
    thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty"""
_DIGITS_OF = {word: str(value) for value, word in enumerate(_SMALL_NUMBERS.split())}


def number_value(number: str) -> str:
    """One of numbers() made comparable: "four" -> "4", "140,000" -> "140000"."""
    return _DIGITS_OF.get(number, number).replace(",", "")


def number_values(text: str) -> set[str]:
    return {number_value(n) for n in numbers(text)}


def number_heads(text: str) -> list[str]:
    """Stems of the words after each number: "two American troops" -> ["america", "troop"]."""
    tokens = words(text)
    heads = []
    for i, token in enumerate(tokens):
        if token in _NUMBER_WORDS or token[0].isdigit():
            heads.extend(stem(t) for t in tokens[i + 1:i + 4])
    return heads


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


def _new_names(text: str, question: str) -> set[str]:
    asked = set(words(question))
    return {n for n in names(text) if not set(words(n)) <= asked}


def _new_matches(pattern: re.Pattern, text: str, asked: set[str]) -> set[str]:
    return {m.group().lower() for m in pattern.finditer(text)} - asked


def _only_in_question(match: str, question: str) -> bool:
    return match.lower() in question.lower()


def _last_word(phrase: str) -> str:
    return words(phrase)[-1] if words(phrase) else ""
