"""Digests for broad requests ("Summarize the news", "What's going on in Syria?", "What
happened in June 2021?"): one key sentence per relevant article, newest first, each with its
date, every sentence cited. The key sentence of an article is the one closest to the request
(embedding similarity plus word coverage), with the earliest retrieved sentence of the
article preferred: in news that is the lead, which gives the gist.
"""

from __future__ import annotations

from rag.citations import cite, quoted
from rag.extractive.evidence import Candidate, Evidence
from rag.extractive.question import Question, request_span
from rag.retrieve import Retrieval
from rag.terms import stem
from rag.types import Answer

MAX_ARTICLES = 5
HEADING = "What the articles say, newest first:"
SHORTLIST = 40  # sentences considered: enough to reach every retrieved article
MIN_SIMILARITY = 0.15  # an article whose best sentence is further off is not about the request
LEAD_BONUS = 0.3
MIN_TOPIC = 0.5  # share of the request's topic words an article must hold to be about it
REQUEST_NOUNS = frozenset({"news", "update", "summary", "story", "overview", "latest", "roundup",
                           "headline", "recap", "digest", "article", "thing", "lot"})


def digest(asked: Question, retrieval: Retrieval, evidence: Evidence) -> Answer:
    candidates = evidence.candidates(asked, retrieval, retrieval.query or asked.text,
                                     shortlist=SHORTLIST)
    earliest: dict[str, int] = {}
    for candidate in candidates:
        earliest[candidate.article] = min(earliest.get(candidate.article, candidate.start),
                                          candidate.start)
    for candidate in candidates:  # the first sentence seen of an article: likely its lead
        candidate.features["lead"] = 1.0 if earliest[candidate.article] == candidate.start \
            else 0.0
    topic = topic_terms(asked)  # "What happened in Palmyra?" -> palmyra; "the news" -> none
    held = Evidence.article_terms(retrieval)
    best: dict[str, Candidate] = {}
    for candidate in sorted(candidates, key=key_score, reverse=True):
        about = not topic or len(topic & held[candidate.article]) >= MIN_TOPIC * len(topic)
        if about and candidate.features["similarity"] >= MIN_SIMILARITY:
            best.setdefault(candidate.article, candidate)
    chosen = sorted(list(best.values())[:MAX_ARTICLES], key=newest_first)
    if not chosen:
        from rag.extractive.answerer import refusal

        return refusal(candidates)
    citations = [cite(i, c.chunk, c.start, c.end, key_score(c)) for i, c in enumerate(chosen, 1)]
    lines = [f"- {dated(c)}: {quoted(c.text)} [{i}]" for i, c in enumerate(chosen, 1)]
    return Answer(text="\n".join([HEADING, *lines]), citations=citations, backend="extractive")


def topic_terms(asked: Question) -> set[str]:
    """The nouns and names of a request, less the words that ask for it ("the gist of"),
    those that only ask for news, and the dates (a date is a filter on publication, not a
    word the article must contain)."""
    skipped = [(e.start, e.end) for e in asked.analysis.entities if e.label in ("DATE", "TIME")]
    skipped += [span] if (span := request_span(asked.text)) else []
    return {stem(t.lemma) for t in asked.analysis.tokens
            if t.content and t.pos in ("NOUN", "PROPN") and t.lemma not in REQUEST_NOUNS
            and not any(start <= t.start < end for start, end in skipped)}


def key_score(candidate: Candidate) -> float:
    """Closeness to the request, with a lead sentence preferred (news puts the gist first)."""
    f = candidate.features
    return (f["similarity"] + 0.5 * f["coverage_context"] + 0.1 * f["passage_rank"]
            + LEAD_BONUS * f.get("lead", 0.0))


def newest_first(candidate: Candidate) -> tuple:
    published = candidate.chunk.published
    return (published is None, "" if published is None else _inverted(published),
            candidate.chunk.source)


def _inverted(iso: str) -> str:
    """A string that sorts in the opposite order of the ISO date `iso`."""
    return "".join(chr(0x10FFFF - ord(ch)) for ch in iso)


def dated(candidate: Candidate) -> str:
    chunk = candidate.chunk
    if chunk.published:
        return chunk.published[:10]
    return f"{chunk.date_text} (year not given)" if chunk.date_text else "undated"
