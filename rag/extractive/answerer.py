"""The offline answerer: the short answer and the verbatim sentence it comes from, or "The
articles don't say" when the evidence does not hold up.

Which sentence answers is the ranker's decision, whether to answer at all the refusal
model's (both learned, `model.py`), over the features of `evidence.py`. A compound question
("How many ..., and which ...?") is answered part by part. When a second article gives the
asked detail too, its sentence joins the answer, opened by "The articles differ:" when the
two values differ. "Who is <name>?" is answered by the title or description a sentence gives
the name. Whatever the models say, an article that names none of what the question names is
not about it, and is not used to answer. Broad requests get a digest instead (`digest.py`).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace

import numpy as np

from rag.citations import cite, quoted
from rag.extractive.digest import digest
from rag.extractive.evidence import Candidate, Evidence
from rag.extractive.model import AnswererModel, Logistic, load_model, refusal_inputs, shares
from rag.extractive.question import Question, casing_of, question_parts, read_question
from rag.retrieve import Retrieval
from rag.types import Answer, Citation, ShortAnswer

REFUSAL = "The articles don't say."
MIN_SIMILARITY = 0.25  # a refusal points only to passages at least this close
POINTERS = 2  # closest passages a refusal points to
IDENTITY_CANDIDATES = 5  # sentences searched for a description of the name asked about
SECOND_ACCOUNT = 0.35  # another article's sentence joins when this likely beside the best


@dataclass
class Pick:
    """One (part of a) question, its ranked candidates and the confidence in the best."""

    question: Question
    candidates: list[Candidate]  # best first
    confidence: float  # the refusal model's P(the best candidate's answer is right)

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


class SentenceVectors:
    """LRU cache of sentence embeddings: chunks recur across questions, sentences with them.
    With `queries`, the texts are embedded as questions (a model with separate roles embeds
    the same text apart), and cached apart."""

    def __init__(self, embedder, size: int = 20000) -> None:
        self.embedder, self.size = embedder, size
        self._cache: OrderedDict[tuple[bool, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, texts: list[str], queries: bool = False) -> np.ndarray:
        keys = [(queries, t) for t in texts]
        with self._lock:
            found = {k: self._cache[k] for k in keys if k in self._cache}
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:  # embedded outside the lock: it is the slow part
            embed = self.embedder.embed_queries if queries else self.embedder.embed
            found.update(zip(missing, embed([t for _, t in missing]), strict=True))
        with self._lock:
            for key in keys:
                self._cache[key] = found[key]
                self._cache.move_to_end(key)
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return np.stack([found[k] for k in keys])


class ExtractiveAnswerer:
    """Deterministic: the same question over the same index gives the same Answer."""

    backend = "extractive"

    def __init__(self, embedder, idf, model: AnswererModel | None = None) -> None:
        self.vectors = SentenceVectors(embedder)
        self.evidence = Evidence(self.vectors.get, idf)
        self.model = model or load_model()

    def answer(self, question: str, retrieval: Retrieval) -> Answer:
        retrieval = self.in_own_space(retrieval, question)
        casing = casing_of([hit.chunk.text for hit in retrieval.hits])
        asked = read_question(question, casing)
        if asked.broad:
            return digest(asked, retrieval, self.evidence)
        picks = self.picks(asked, retrieval, casing)
        if asked.identity:
            described = identify(picks[0], asked.identity)
            if described is not None:
                return described
        if not any(p.best and p.confidence >= self.model.threshold for p in picks):
            return refusal(picks[0].candidates)
        # One confident part answers a compound question; its other parts come along when
        # they are at least half as likely, and the answer names those it leaves out.
        floor = self.model.threshold / 2
        answered = [p for p in picks if p.best and p.confidence >= floor]
        answer = compose(answered)
        asked_parts = question_parts(question)  # as the user wrote them (not re-cased)
        if len(asked_parts) == len(picks):
            answer.notes += [f"The articles don't say: “{unanswered(part)}”"
                             for part, pick in zip(asked_parts, picks, strict=True)
                             if pick not in answered]
        return answer

    def best_sentences(self, question: str, retrieval: Retrieval, count: int) -> list[Candidate]:
        """The `count` sentences most likely to answer, best first, the parts of a compound
        question taking turns: the evidence an LLM phrases its answer from."""
        casing = casing_of([hit.chunk.text for hit in retrieval.hits])
        picks = self.picks(read_question(question, casing), retrieval, casing)
        chosen: dict[tuple[str, int], Candidate] = {}
        for place in range(max((len(p.candidates) for p in picks), default=0)):
            for pick in picks:
                if place < len(pick.candidates) and len(chosen) < count:
                    candidate = pick.candidates[place]
                    chosen.setdefault((candidate.chunk.source, candidate.start), candidate)
        return list(chosen.values())

    def in_own_space(self, retrieval: Retrieval, question: str) -> Retrieval:
        """The retrieval with its query vector in the space of the answerer's sentence
        vectors: an index embedded by another model (e5, OpenAI) searched with its own."""
        if not retrieval.space or retrieval.space == self.vectors.embedder.name:
            return retrieval
        vector = self.vectors.get([retrieval.query or question], queries=True)[0]
        return replace(retrieval, query_vector=vector, space=self.vectors.embedder.name)

    def picks(self, asked: Question, retrieval: Retrieval,
              casing: dict[str, str] | None = None) -> list[Pick]:
        """One ranked Pick per question a compound question joins (usually just one). Later
        parts carry the first part's names: "..., and how many is it buying?". `casing` is
        the passages' (`casing_of`), to read each part as `asked` was read."""
        pieces = question_parts(asked.text)
        if len(pieces) == 1:
            return [self.pick(asked, retrieval, retrieval.query)]
        carried = retrieval.query[len(asked.text):] if retrieval.query.startswith(asked.text) \
            else ""
        first_names = " ".join(read_question(pieces[0], casing).names)
        queries = [f"{piece} {'' if i == 0 else first_names} {carried}".strip()
                   for i, piece in enumerate(pieces)]
        vectors = self.vectors.get(queries, queries=True)
        return [self.pick(read_question(piece, casing), replace(retrieval, query_vector=vector),
                          query)
                for piece, query, vector in zip(pieces, queries, vectors, strict=True)]

    def pick(self, asked: Question, retrieval: Retrieval, query: str) -> Pick:
        candidates = self.evidence.candidates(asked, retrieval, query or asked.text)
        rank(candidates, self.model.ranker)
        return Pick(asked, candidates, confidence(candidates, self.model.refusal))


def confidence(candidates: list[Candidate], refusal: Logistic) -> float:
    """The refusal model's P(the best-ranked candidate's answer is right); 0 without one, or
    when its article names none of what was asked about (it is not about it)."""
    if not candidates or candidates[0].features["names_article"] == 0.0:
        return 0.0
    runner_up = candidates[1] if len(candidates) > 1 else None
    return refusal.probability(refusal_inputs(candidates[0], runner_up))


def rank(candidates: list[Candidate], ranker: Logistic) -> None:
    """Scores the candidates with the ranker and sorts them, best first."""
    scores = [ranker.score(c.features) for c in candidates]
    for candidate, probability in zip(candidates, shares(scores), strict=True):
        candidate.probability = probability
    candidates.sort(key=lambda c: (-c.probability, c.chunk.source, c.start))


def unanswered(part: str) -> str:
    """A part of a compound question as a question of its own: "who won?" -> "Who won?"."""
    part = part.strip(" ,?")
    return f"{part[:1].upper()}{part[1:]}?"


def compose(picks: list[Pick]) -> Answer:
    """The answer: each part's best sentence, and a second article's account of a single
    question when it is nearly as likely; the short answer of the first part leads."""
    chosen = [p.best for p in picks]
    lead = ""
    if len(picks) == 1:
        second = second_account(picks[0])
        if second is not None:
            chosen.append(second)
            if differs(picks[0], second):
                lead = "The articles differ: "
    chosen = list({id(c): c for c in chosen}.values())
    citations = [cite(i, c.chunk, c.start, c.end, c.probability) for i, c in enumerate(chosen, 1)]
    short = short_answer(picks[0].best, picks[0].question, citations[0])
    body = " ".join(f"{quoted(c.text)} [{i}]" for i, c in enumerate(chosen, 1))
    opening = f"**{short.text}**: " if short else ""
    return Answer(text=f"{lead}{opening}{body}", citations=citations, short=short,
                  backend="extractive")


def second_account(pick: Pick) -> Candidate | None:
    """Another article's sentence that answers too: of the asked type when the best one is,
    and at least SECOND_ACCOUNT times as likely."""
    best = pick.best
    for candidate in pick.candidates[1:]:
        if candidate.article != best.article and candidate.features["typed"] >= \
                best.features["typed"] and candidate.probability >= SECOND_ACCOUNT * \
                best.probability:
            return candidate
    return None


def differs(pick: Pick, other: Candidate) -> bool:
    """The two sentences give different values of the asked detail."""
    first = pick.best.short_entity(pick.question)
    second = other.short_entity(pick.question)
    return bool(first and second) and first.text.lower() != second.text.lower()


def short_answer(candidate: Candidate, question: Question, citation: Citation) -> ShortAnswer | None:
    """The answer entity as an exact file span inside the candidate's citation."""
    entity = candidate.short_entity(question)
    if entity is None:
        return None
    start = candidate.start + entity.start
    return ShortAnswer(text=entity.text, marker=citation.marker, source=citation.source,
                       start=start, end=start + len(entity.text))


def identify(pick: Pick, name: str) -> Answer | None:
    """"Who is Marco Rubio?": the best-ranked sentence that gives the name a title or a
    description ("US Secretary of State Marco Rubio", "Marco Rubio, the US secretary of
    state,"), with that description as the short answer."""
    for candidate in pick.candidates[:IDENTITY_CANDIDATES]:
        span = description(candidate, name)
        if span is None:
            continue
        citation = cite(1, candidate.chunk, candidate.start, candidate.end, candidate.probability)
        start, end = candidate.start + span[0], candidate.start + span[1]
        short = ShortAnswer(text=candidate.text[span[0]:span[1]], marker=1,
                            source=citation.source, start=start, end=end)
        return Answer(text=f"**{short.text}**: {quoted(candidate.text)} [1]", citations=[citation],
                      short=short, backend="extractive")
    return None


def description(candidate: Candidate, name: str) -> tuple[int, int] | None:
    """Offsets in the sentence of what it calls `name`: the title before it (capitalised
    words and "of": "US Secretary of State") or the appositive after it (", CENTCOM's
    commander,"), the longer of the two; None when the sentence gives neither."""
    text = candidate.text
    at = text.lower().find(name.lower())
    if at < 0 or candidate.analysis is None:
        return None
    title: list = []
    for token in reversed([t for t in candidate.analysis.tokens if t.end <= at]):
        if token.pos in ("PROPN", "NOUN", "ADJ") or (token.lemma == "of" and title):
            title.insert(0, token)
        else:
            break
    while title and title[0].lemma == "of":
        title.pop(0)
    spans = [(title[0].start, title[-1].end)] if title else []
    after = _APPOSITIVE.match(text[at + len(name):])
    if after:
        start = at + len(name) + after.start(1)
        spans.append((start, start + len(after.group(1))))
    return max(spans, key=lambda span: span[1] - span[0], default=None)


_APPOSITIVE = re.compile(r",\s+([^,.;\"“”]{3,80}?)\s*,")


def refusal(candidates: list[Candidate]) -> Answer:
    """"The articles don't say", pointing to the two closest sentences when any is close."""
    close = [c for c in candidates if c.features.get("similarity", 0.0) >= MIN_SIMILARITY]
    citations = [cite(i, c.chunk, c.start, c.end, c.probability)
                 for i, c in enumerate(close[:POINTERS], 1)]
    text = REFUSAL
    if citations:
        text += f" The closest passages are {' and '.join(f'[{c.marker}]' for c in citations)}."
    return Answer(text=text, citations=citations, refused=True, backend="extractive")
