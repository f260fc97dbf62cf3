"""How the extractive answer is put together from several sentences: the parts of a compound
question, and whether the chosen sentences disagree on the detail asked for.

`question_parts("How many troops died, and which group was blamed?")`
-> ["How many troops died", "which group was blamed?"]; `disagree` tells "four militiamen"
from "seven Iraqi militiamen" for a "how many" question, not "December 2024" from "Dec. 8".
"""

from __future__ import annotations

import re

from rag.answer_types import _MONTHS, AnswerType, number_heads, number_value, numbers
from rag.terms import terms, words

# ", and which ..." / " and has it ...": a second question joined to the first.
_JOIN = re.compile(
    r",?\s+(?:and|while)\s+(?=(?:which|who|whom|what|when|where|why|how|is|are|was|were|has"
    r"|have|had|did|does|do|can)\b)",
    re.IGNORECASE,
)
MIN_PART_TERMS = 2  # a "part" with fewer content words is not a question of its own
# A sentence that starts by disputing the one before it ("The ministry disputed that, ...").
_DISPUTE = re.compile(r"^(?:\W*\w+){0,6}?\W*\b(disputed|denied|rejected|contradicted|dismissed"
                      r"|refuted|countered)\b", re.IGNORECASE)
_FUTURE_QUESTION = re.compile(r"\b(will|shall|going to)\b", re.IGNORECASE)
_FUTURE_SENTENCE = re.compile(
    r"\b(will|would|shall|going to|plans?|planned|planning|expected|expects?|due|set to"
    r"|scheduled|intends?|aims?|next|upcoming|soon|deadline|by the end)\b",
    re.IGNORECASE,
)
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
_MONTH = re.compile(rf"\b({_MONTHS})\b", re.IGNORECASE)
_DAY = re.compile(rf"\b(?P<before>\d{{1,2}})\s+(?:{_MONTHS})\b"
                  rf"|\b(?:{_MONTHS})\.?\s+(?P<after>\d{{1,2}})\b(?!,?\d)", re.IGNORECASE)


def question_parts(question: str) -> list[str]:
    """The questions a compound question joins, or [question] when it asks one thing."""
    parts = [p.strip(" ,") for p in _JOIN.split(question) if p and p.strip(" ,")]
    if len(parts) < 2 or any(len(terms(p)) < MIN_PART_TERMS for p in parts):
        return [question]
    return parts


def asks_future(question: str) -> bool:
    """"When will US troops leave Syria?" asks about something that has not happened yet."""
    return bool(_FUTURE_QUESTION.search(question))


def speaks_of_future(sentence: str) -> bool:
    """The sentence talks about a plan, an expectation or a deadline, not only the past."""
    return bool(_FUTURE_SENTENCE.search(sentence))


def disputes(sentence: str) -> bool:
    """The sentence opens by disputing what came before it."""
    return bool(_DISPUTE.search(sentence))


def disagree(first: str, second: str, answer_type: AnswerType, question: str) -> bool:
    """True when two sentences give different values of the asked detail: different counts of
    the asked noun, or different years, months or days. Only numbers and dates are compared:
    names and reasons vary in wording far more often than in fact."""
    if answer_type is AnswerType.NUMBER:
        a, b = counted(first, question), counted(second, question)
        return bool(a and b) and not a & b
    if answer_type is AnswerType.DATE:
        return any(a and b and not a & b for a, b in zip(date_parts(first), date_parts(second)))
    return False


def counted(sentence: str, question: str) -> set[str]:
    """The numbers of `sentence` that count what a "how many X" question asks about, as
    digits: "four militiamen" -> {"4"}. Empty when the question names nothing to count
    ("how much ..."): sums of money in two sentences are too often about two things."""
    lowered = question.lower()
    noun = terms(lowered.split("how many", 1)[1])[:1] if "how many" in lowered else []
    if not noun:
        return set()
    return {number_value(n) for n in numbers(sentence) - numbers(question)
            if not _YEAR.fullmatch(n) and noun[0] in number_heads(_from(sentence, n))}


def date_parts(sentence: str) -> tuple[set[str], set[str], set[str]]:
    """(years, months, days) written in the sentence; months as their first three letters."""
    years = set(_YEAR.findall(sentence))
    months = {m.group().lower()[:3] for m in _MONTH.finditer(sentence)}
    days = {m.group("before") or m.group("after") for m in _DAY.finditer(sentence)}
    return years, months, days


def _from(sentence: str, number: str) -> str:
    """The sentence from the first time `number` appears as a word (so its heads follow it)."""
    tokens, first = words(sentence), re.split(r"[,.]", number.lower())[0]
    index = tokens.index(first) if first in tokens else 0
    return " ".join(tokens[index:index + 4])
