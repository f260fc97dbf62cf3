"""Checks shared by the answering tests: the citation invariant against the raw files."""

from __future__ import annotations

from pathlib import Path

from index.reader import read_file
from rag.types import Answer


def assert_offsets(answer: Answer, corpus_dir: Path) -> None:
    """Every citation's quote is the source file's decoded text[start:end], exactly."""
    for citation in answer.citations:
        text = read_file(Path(corpus_dir) / citation.source, Path(corpus_dir)).text
        assert text[citation.start:citation.end] == citation.quote, citation
        assert f"[{citation.marker}]" in answer.text


def sources(answer: Answer) -> set[str]:
    return {c.source for c in answer.citations}


def assert_short_is_exact(answer: Answer, text_of) -> None:
    """`short`, when given, is the exact file text at its offsets and lies inside the quote of
    the citation it names. `text_of(source)` returns a file's decoded text."""
    short = answer.short
    if short is None:
        return
    assert text_of(short.source)[short.start:short.end] == short.text, short
    cited = [c for c in answer.citations if c.marker == short.marker]
    assert cited, f"short answer names citation [{short.marker}], which does not exist"
    citation = cited[0]
    assert citation.source == short.source
    assert citation.start <= short.start and short.end <= citation.end, (short, citation)
