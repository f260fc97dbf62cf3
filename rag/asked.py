"""What exactly a question asks for, beyond its answer type, and whether a sentence gives it.

"Which aircraft carried out the strikes?" asks for aircraft: a sentence about "planes" or
"facilities" does not name one. "In which provinces ...?" wants a named province ("Homs
province"). "How many troops died in the Palmyra attack?" counts the dead of that event:
a sentence (with its context) that never mentions Palmyra tells of another one.
"""

from __future__ import annotations

import re

from rag.answer_types import AnswerType, carries_type, names_near, person_names, role_terms
from rag.channels import asks_means, channels
from rag.counting import counts_the_noun
from rag.lexicon import COUNTRIES, concept, evidence, is_broad
from rag.terms import IRREGULAR, STOP_WORDS, stem, words

HOW_LONG_AGO = re.compile(r"\bhow long (ago|before|after|since)\b", re.IGNORECASE)
_WHICH = re.compile(r"\b(?:which|what)\s+(.*)", re.IGNORECASE)
_PLACE_NOUN_LIST = """city cities country countries province provinces
    region regions district districts area areas town towns village villages desert deserts
    countryside border borders neighborhood neighborhoods neighbourhood capital territory"""
_PERSON_NOUN_LIST = """official officials minister ministers president
    leader leaders commander commanders person people spokesman spokeswoman spokesperson envoy
    envoys diplomat diplomats general generals"""
PLACE_NOUNS = frozenset(stem(w) for w in _PLACE_NOUN_LIST.split())
PERSON_NOUNS = frozenset(stem(w) for w in _PERSON_NOUN_LIST.split())
# Verbs that end a "which X" phrase without the -ed of a regular past form.
_VERB_LIST = """spoke speaks say says said run runs make makes use uses carry carries
    lead leads head heads"""
_VERBS = frozenset(_VERB_LIST.split()) | frozenset(IRREGULAR)
MAX_HEAD_WORDS = 3
_CAPITALISED = re.compile(r"\b[A-Z][\w’']+")


def qualifies(sentence: str, context: set[str], answer_type: AnswerType, question: str) -> bool:
    """The sentence gives what is asked: the answer type, the counted noun, the asked thing
    ("which aircraft"), the channel a message went by ("how were they delivered"), and for a
    count or a date, the event the question names."""
    if answer_type is AnswerType.NUMBER and HOW_LONG_AGO.search(question) and carries_type(
            sentence, AnswerType.DATE, question):  # "how long ago" is also answered by a date
        return places_the_event(context, question)
    if answer_type is AnswerType.PLACE and asked_noun(question) in PLACE_NOUNS:
        return names_a(asked_noun(question), sentence, question)  # "Sheikh Maksoud ... districts"
    if not carries_type(sentence, answer_type, question):
        return False
    if asks_means(question) and not channels(sentence):  # "how was it delivered": a letter?
        return False
    if answer_type in (AnswerType.NUMBER, AnswerType.DATE):
        return places_the_event(context, question) and counts_the_noun(sentence, question, context)
    return gives_the_asked_noun(sentence, answer_type, question)


def gives_the_asked_noun(sentence: str, answer_type: AnswerType, question: str) -> bool:
    """"Which X ...?": a PERSON answer names a new person ("Which US officials" -> "John
    Kirby"), a PLACE answer a named X ("Homs province"), any other the X itself."""
    noun = asked_noun(question)
    if answer_type is AnswerType.PERSON:
        if role_terms(question):
            return names_near(sentence, role_terms(question))
        # "Which officials ...?" or "Who was killed alongside Qassem Soleimani?" want a name.
        wants_name = noun in PERSON_NOUNS or bool(person_names(question))
        return not wants_name or bool(new_people(sentence, question))
    if noun is None:
        return True
    found = evidence(sentence)
    if is_broad(noun):  # "What weapons ...?" is answered by naming some: "artillery shells"
        return concept(noun) in found
    return noun in found or concept(noun) in found


def asked_noun(question: str) -> str | None:
    """The head of "which/what X": "Which militia factions used ..." -> "faction"."""
    match = _WHICH.search(question)
    if not match:
        return None
    head = None
    for word in words(match.group(1))[:MAX_HEAD_WORDS]:
        if word == "us":  # "which US officials": a country, not the pronoun
            continue
        if word in STOP_WORDS or word in _VERBS or word.endswith("ed"):
            break
        head = stem(word)
    return head


def names_a(noun: str, sentence: str, question: str) -> bool:
    """A capitalised name not in the question stands right before `noun` ("Idlib province",
    "Damascus countryside") or after "<noun> of" ("the province of Homs")."""
    tokens = re.findall(r"[\w’'\-]+", sentence)
    asked = set(words(question))
    for i, token in enumerate(tokens):
        if stem(token.lower()) != noun:
            continue
        before = tokens[i - 1] if i else ""
        after = tokens[i + 2] if i + 2 < len(tokens) and tokens[i + 1] == "of" else ""
        if any(_new_name(t, asked) for t in (before, after)):
            return True
    return False


def new_people(sentence: str, question: str) -> set[str]:
    asked = set(words(question))
    return {n for n in person_names(sentence) if not set(words(n)) <= asked}


def places_the_event(context: set[str], question: str) -> bool:
    """The sentence or its context (sentence before, headline) names one of the question's
    anchors, when it has some: a count or a date belongs to one event."""
    found = anchors(question)
    return not found or any(a in context or concept(a) in context for a in found)


def anchors(question: str) -> set[str]:
    """Stems of the capitalised names of the question, countries aside: "How many troops died
    in the Palmyra attack?" -> {"palmyra"}; "How many US troops ...?" -> set()."""
    found = set()
    for match in _CAPITALISED.finditer(question, 1):
        word = words(match.group())[0] if words(match.group()) else ""
        term = stem(word)
        if len(word) > 1 and word not in STOP_WORDS and concept(term) not in COUNTRIES:
            found.add(term)
    return found


def _new_name(token: str, asked: set[str]) -> bool:
    word = token.lower()
    return token[:1].isupper() and word not in asked and concept(stem(word)) not in COUNTRIES
