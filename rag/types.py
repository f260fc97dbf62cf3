"""The shared vocabulary: what a question's answer looks like.

Invariant of every Citation, for every backend: the source file's decoded text
sliced [start:end] equals `quote`.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class Citation(BaseModel):
    marker: int  # the n of "[n]" in Answer.text
    source: str  # file path relative to the corpus dir
    article_id: str
    title: str | None = None
    published: str | None = None  # ISO date, or None when the article gives none
    date_text: str | None = None  # the date as the article writes it (may lack a year)
    outlet: str | None = None
    quote: str
    start: int
    end: int
    score: float = 0.0

    @property
    def date_label(self) -> str:
        """The date to show: ISO when known, else as written (flagged), else 'date unknown'."""
        if self.published:
            return self.published
        if self.date_text:
            return f"{self.date_text} (year not given)"
        return "date unknown"


class ShortAnswer(BaseModel):
    """The direct answer (a name, number, date or place) as an exact span of the file, inside
    the quote of citation `marker`: file_text[start:end] == text."""

    text: str
    marker: int
    source: str
    start: int
    end: int


class Timings(BaseModel):
    rewrite_ms: float = 0.0  # making a follow-up standalone (an LLM call, with an LLM)
    retrieval_ms: float = 0.0
    generation_ms: float = 0.0


class Answer(BaseModel):
    text: str  # with [n] markers; when `short` is set it leads: "**Tom Barrack**: ..."
    citations: list[Citation] = Field(default_factory=list)
    refused: bool = False
    backend: str = "extractive"
    timings: Timings = Field(default_factory=Timings)
    # Sentences of `text` whose numbers or names appear in none of their cited passages.
    unsupported: list[str] = Field(default_factory=list)
    # The standalone query actually searched (differs from the question on follow-ups).
    query: str | None = None
    # The direct answer to a who/when/where/how-many question (None for other questions).
    short: ShortAnswer | None = None
    # Remarks of the system, not of the articles: "Only articles published in June 2021 ...".
    notes: list[str] = Field(default_factory=list)


class Filters(BaseModel):
    """Restrict retrieval to some source files and/or a publication date range (inclusive)."""

    sources: list[str] | None = None
    since: date | None = None
    until: date | None = None
