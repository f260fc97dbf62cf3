"""Evidence: the candidate sentences of the retrieved passages and, for each, the named
features a learned model weighs to decide which sentence answers (see `model.py`).

Every feature is a number in [0, 1] with a name, so a failing case can say which input was
wrong. Only the sentences with the most lexical evidence are embedded and analysed by spaCy
(the costly steps), so a question stays fast over a large archive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from index.types import Chunk
from rag.extractive.analysis import AMOUNTS, Analysis, Entity, analyze, as_quoted
from rag.extractive.question import Question
from rag.retrieve import Retrieval
from rag.sentences import split_sentences
from rag.terms import stem, terms

SHORTLIST = 12  # sentences per question embedded and analysed
CARRIED = 0.5  # weight of a word a follow-up rewrite carried over
PREFIX, PREFIX_CREDIT = 5, 0.5  # see covered()
HINT_WEIGHT = 0.3  # how much a cheap sign of the asked type lifts a sentence into the shortlist

FEATURES = (
    "similarity",  # cosine of the sentence's and the query's embeddings
    "coverage",  # share of the question's IDF weight the sentence's words cover
    "coverage_context",  # ... with the sentence before it and the article's headline
    "coverage_previous",  # ... by the sentence before it alone (it may set the scene)
    "coverage_predicate",  # ... of the question's words that are not names (what happened)
    "coverage_focus",  # ... of what the question word asks about ("salary" in "what salary")
    "coverage_article",  # ... anywhere in the article's retrieved passages
    "names_here",  # share of the question's names and numbers in the sentence or its context
    "names_article",  # share of them in the article's retrieved passages
    "typed",  # the sentence holds an entity of the asked type that the question does not name
    "typed_primary",  # ... of the asked type's most likely label (money for "how much")
    "answer_near",  # how close that entity is to the words shared with the question
    "coverage_local",  # share of the question's weight within a few words of that entity
    "new_name",  # a capitalised word or an entity the question does not name
    "new_number",  # a number the question does not give
    "open_type",  # the question's answer type is open ("What did she say?")
    "passage_rank",  # 1 / (1 + rank of the sentence's passage in the retrieval)
)
CHARS_PER_WORD = 6  # distances in a sentence are counted in characters, about six a word
NEAR_WORDS = 6  # an answer entity this many words from a shared word is half as "near"
FOCUS_WORDS = 4  # "nine of the popular Carry On films": the asked noun within 4 words after


@dataclass(eq=False)
class Candidate:
    chunk: Chunk
    start: int  # file offsets
    end: int
    text: str
    passage_rank: int
    previous: str = ""  # the sentence before it in the same chunk
    analysis: Analysis | None = None
    features: dict[str, float] = field(default_factory=dict)
    vector: np.ndarray | None = None
    probability: float = 0.0  # the ranker's: this sentence answers the question

    @property
    def article(self) -> str:
        return self.chunk.article_id

    def answer_entities(self, question: Question, labels: frozenset[str] | None = None
                        ) -> list[Entity]:
        """Entities of the asked type that the question does not already name."""
        labels = question.labels if labels is None else labels
        if self.analysis is None or not labels:
            return []
        return [e for e in self.analysis.entities
                if e.label in labels and not named_by(e.text, question)]

    def anchors(self, question: Question) -> list[int]:
        """Offsets of the sentence's words that the question shares."""
        return [t.start for t in self.analysis.tokens
                if t.content and stem(t.lemma) in question.stems]

    def answer_entity(self, question: Question) -> Entity | None:
        """The entity of the asked type closest to the question's words in the sentence,
        rare words counting most ("four" in "Two officials said four militiamen were killed"
        for "How many militiamen ...?"), the most likely label first."""
        return self._closest(self.likeliest_entities(question), question)

    def likeliest_entities(self, question: Question, quoted: bool = False) -> list[Entity]:
        """Answer entities of the asked type's most likely label, else of any asked label.
        With `quoted`, less those the question names once quoted (`as_quoted`: "Menatep
        Group's" for "Which Menatep Group managing director ...?")."""
        for labels in (question.primary, question.labels):
            found = [e for e in self.answer_entities(question, labels)
                     if not (quoted and named_by(as_quoted(self.text, e).text, question))]
            if found:
                return found
        return []

    def _closest(self, entities: list[Entity], question: Question) -> Entity | None:
        if not entities:
            return None
        return max(entities, key=lambda e: (self.pull(e, question), -e.start))

    def short_entity(self, question: Question) -> Entity | None:
        """The entity to lead the answer with, as quoted (`as_quoted`): of the amounts of the
        asked type, one that what the question asks about sits in or closely follows, as
        English puts a number before what it counts ("two" of "two American troops" for "How
        many US troops died?", not "one" of "one civilian died"); else the closest one."""
        entities = self.likeliest_entities(question, quoted=True)
        focus = {stem(lemma) for lemma in question.focus}
        attached = [e for e in entities if e.label in AMOUNTS and focus and
                    focus & self.stems_from(e, FOCUS_WORDS)]
        best = self._closest(attached or entities, question)
        return as_quoted(self.text, best) if best else None

    def stems_from(self, entity: Entity, after: int) -> set[str]:
        """Stems of the content words in `entity` and in the `after` words that follow it."""
        inside = [t for t in self.analysis.tokens if entity.start <= t.start < entity.end]
        following = [t for t in self.analysis.tokens if t.start >= entity.end][:after]
        return {stem(t.lemma) for t in inside + following if t.content}

    def pull(self, entity: Entity, question: Question) -> float:
        """How strongly the question's words around it point at `entity`."""
        weights = question.weights or {}
        total = 0.0
        for token in self.analysis.tokens:
            term = stem(token.lemma)
            if token.content and term in question.stems and \
                    not entity.start <= token.start < entity.end:
                gap = min(abs(token.start - entity.end), abs(entity.start - token.end))
                total += weights.get(term, 1.0) / (1.0 + gap / CHARS_PER_WORD)
        return total


def sentence_candidates(retrieval: Retrieval) -> list[Candidate]:
    """Every sentence of the retrieved chunks once (overlapping chunks repeat sentences)."""
    by_key: dict[tuple[str, int, int], Candidate] = {}
    for rank, hit in enumerate(retrieval.hits):
        chunk, previous = hit.chunk, ""
        for start, end in split_sentences(chunk.text):
            key = (chunk.source, chunk.start + start, chunk.start + end)
            text = chunk.text[start:end]
            if key not in by_key:
                by_key[key] = Candidate(chunk, key[1], key[2], text, rank, previous=previous)
            previous = text
    return list(by_key.values())


class Evidence:
    """Scores candidate sentences for one question; `embed` is the sentence-vector cache."""

    def __init__(self, embed, idf) -> None:
        self.embed, self.idf = embed, idf

    def candidates(self, question: Question, retrieval: Retrieval, query: str | None = None,
                   shortlist: int = SHORTLIST) -> list[Candidate]:
        """The shortlisted candidates with all their features filled in."""
        weights = self.weights(query or question.text, question)
        question.weights = weights
        candidates = sentence_candidates(retrieval)
        article_terms = self.article_terms(retrieval)
        hint = type_hint(question)
        lexical = {}
        for c in candidates:
            context = set(terms(f"{c.text} {c.previous} {c.chunk.title or ''}")) | dated(c.chunk)
            c.features["coverage_context"] = covered(weights, context)
            c.features["coverage_article"] = covered(weights, article_terms[c.article])
            # What the sentence itself says counts fully, its context (headline, date, the
            # sentence before) half: it places the sentence, it does not answer.
            own = covered(weights, set(terms(c.text)))
            lexical[id(c)] = own + 0.5 * (c.features["coverage_context"] - own) + \
                HINT_WEIGHT * hint(c.text)
        shortlist = sorted(candidates, key=lambda c: (-lexical[id(c)], c.passage_rank,
                                                      c.start))[:shortlist]
        self.describe(shortlist, question, weights, retrieval)
        return shortlist

    def describe(self, shortlist: list[Candidate], question: Question,
                 weights: dict[str, float], retrieval: Retrieval) -> None:
        if not shortlist:
            return
        vectors = self.embed([c.text for c in shortlist])
        analyses = analyze([c.text for c in shortlist])
        article_text = self.article_text(retrieval)
        names = [n.lower() for n in question.names]
        named = set(terms(" ".join(question.names)))
        predicate = {t: w for t, w in weights.items() if t not in named}
        focus = {stem(lemma): self.idf(stem(lemma)) for lemma in question.focus}
        for c, vector, analysis in zip(shortlist, vectors, analyses, strict=True):
            c.vector, c.analysis = vector, analysis
            near = f"{c.text} {c.previous} {c.chunk.title or ''}".lower()
            f = c.features
            f["similarity"] = max(0.0, float(vector @ retrieval.query_vector))
            own = {stem(t.lemma) for t in analysis.tokens if t.content} | set(terms(c.text))
            f["coverage"] = covered(weights, own)
            f["coverage_previous"] = covered(weights, set(terms(c.previous)))
            f["coverage_predicate"] = covered(predicate, own)
            f["coverage_focus"] = covered(focus, own | set(terms(c.previous))) if focus else 1.0
            f["names_here"] = share(names, near)
            f["names_article"] = share(names, article_text[c.article])
            f["typed"] = 1.0 if c.answer_entities(question) else 0.0
            f["typed_primary"] = 1.0 if c.answer_entities(question, question.primary) else 0.0
            entity = c.answer_entity(question)
            f["answer_near"] = 0.0 if entity is None else nearness(entity, c.anchors(question))
            f["coverage_local"] = 0.0 if entity is None else covered(
                weights, set(terms(around(c.text, entity))))
            f["new_name"] = 1.0 if new_names(analysis, question) else 0.0
            f["new_number"] = 1.0 if new_numbers(analysis, question) else 0.0
            f["open_type"] = 0.0 if question.labels else 1.0
            f["passage_rank"] = 1.0 / (1 + c.passage_rank)

    def weights(self, query: str, question: Question) -> dict[str, float]:
        """IDF weight of each content word of the query (lemmas as well as surface forms);
        words a follow-up rewrite carried over from earlier turns count half: they place the
        answer without outweighing what is asked."""
        own = set(terms(question.text)) | question.stems
        weights = {term: self.idf(term) for term in own if term}
        for term in set(terms(query)) - own:
            weights[term] = CARRIED * self.idf(term)
        return weights

    @staticmethod
    def article_terms(retrieval: Retrieval) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for hit in retrieval.hits:
            found.setdefault(hit.chunk.article_id, set()).update(
                terms(f"{hit.chunk.title or ''} {hit.chunk.text}"))
        return found

    @staticmethod
    def article_text(retrieval: Retrieval) -> dict[str, str]:
        found: dict[str, str] = {}
        for hit in retrieval.hits:
            found[hit.chunk.article_id] = (found.get(hit.chunk.article_id, "") + " "
                                           + f"{hit.chunk.title or ''} {hit.chunk.text}".lower())
        return found


_CAPITALISED = re.compile(r"(?<=\S\s)[A-Z][\w’'\-]+")
_NUMBER = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|dozen|hundred"
                     r"|thousand|million|billion)s?\b", re.IGNORECASE)


def type_hint(question: Question):
    """A cheap test, before spaCy, that a sentence may hold the asked type: a capitalised
    word the question does not contain for a name, a number for an amount or a date."""
    asked = question.text.lower()
    if not question.labels:
        return lambda text: 0.0
    if question.labels & NUMERIC:
        return lambda text: 1.0 if _NUMBER.search(text) else 0.0
    return lambda text: 1.0 if any(w.lower() not in asked for w in _CAPITALISED.findall(text)) \
        else 0.0


def dated(chunk: Chunk) -> set[str]:
    """The month and year the article was published, as terms: "the strikes in June 2021"
    finds an article of June 2021 that never writes the date."""
    if not chunk.published:
        return set()
    day = date.fromisoformat(chunk.published[:10])
    return set(terms(day.strftime("%B %Y")))


def covered(weights: dict[str, float], found: set[str]) -> float:
    """Share of the IDF weight whose terms occur in `found`; a term that only shares its
    first five letters with one there ("injur" of "injured" and "injuries", which Porter
    stems apart) counts half (truncation is a classic stemmer for English retrieval)."""
    total = sum(weights.values())
    if not total:
        return 0.0
    prefixes = {t[:PREFIX] for t in found if len(t) >= PREFIX}
    matched = sum(w if t in found else PREFIX_CREDIT * w
                  for t, w in weights.items() if t in found or t[:PREFIX] in prefixes)
    return matched / total


def share(names: list[str], text: str) -> float:
    """Share of `names` that occur in `text` (1.0 when there are none to find)."""
    if not names:
        return 1.0
    return sum(1 for n in names if n in text) / len(names)


def named_by(text: str, question: Question) -> bool:
    """The question already names it: as written, or word by word up to the ending
    ("Sweden" for "Which Swedish town ...?"): then it is no answer to the question."""
    asked = question.text.lower()
    if text.lower() in asked:
        return True
    words = re.findall(r"[a-z]+", text.lower())
    prefixes = {w[:PREFIX] for w in re.findall(r"[a-z]+", asked) if len(w) >= PREFIX}
    return bool(words) and all(len(w) >= PREFIX and w[:PREFIX] in prefixes for w in words)


def around(text: str, entity: Entity, chars: int = 60) -> str:
    """The words within `chars` characters of the entity, the entity left out."""
    return f"{text[max(0, entity.start - chars):entity.start]} {text[entity.end:entity.end + chars]}"


def distance(entity: Entity, anchors: list[int]) -> int:
    return min(abs(entity.start - a) for a in anchors)


def nearness(entity: Entity, anchors: list[int]) -> float:
    """1.0 next to a shared word, falling off with distance (0.0 with no shared word)."""
    if not anchors:
        return 0.0
    return 1.0 / (1.0 + distance(entity, anchors) / (CHARS_PER_WORD * NEAR_WORDS))


def new_names(analysis: Analysis, question: Question) -> list[str]:
    """Names in the sentence the question does not mention: entities other than numbers, and
    capitalised words after the sentence's first word (names spaCy did not tag)."""
    asked = question.text.lower()
    found = [e.text for e in analysis.entities if e.label not in NUMERIC]
    found += [analysis.text[t.start:t.end] for t in analysis.tokens[1:]
              if t.content and analysis.text[t.start:t.start + 1].isupper()]
    return [name for name in found if name.lower() not in asked]


def new_numbers(analysis: Analysis, question: Question) -> list[str]:
    asked = question.text.lower()
    found = [e.text for e in analysis.entities if e.label in NUMERIC]
    return [number for number in found if number.lower() not in asked]


NUMERIC = frozenset({"CARDINAL", "QUANTITY", "MONEY", "PERCENT", "ORDINAL", "DATE", "TIME"})
