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
