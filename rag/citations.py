"""Citations cut from chunks: the quote is always the chunk's own text at file offsets.

Since chunk.text == file_text[chunk.start:chunk.end], slicing the chunk at
(start - chunk.start, end - chunk.start) yields exactly file_text[start:end].
"""

from __future__ import annotations

import re

from index.types import Chunk
from rag.types import Citation


def cite(marker: int, chunk: Chunk, start: int, end: int, score: float = 0.0) -> Citation:
    """A Citation of file span [start, end), which must lie inside `chunk`."""
    if not chunk.start <= start < end <= chunk.end:
        raise ValueError(f"span {start}:{end} is outside chunk {chunk.id}")
    return Citation(
        marker=marker,
        source=chunk.source,
        article_id=chunk.article_id,
        title=chunk.title,
        published=chunk.published,
        date_text=chunk.date_text,
        outlet=chunk.outlet,
        quote=chunk.text[start - chunk.start:end - chunk.start],
        start=start,
        end=end,
        score=round(float(score), 4),
    )


_BRACKETED_NUMBER = re.compile(r"\[(\d+)\]")
WORD_JOINER = "\u2060"  # invisible; keeps "[3]" of an article from reading as marker [3]


def quoted(text: str) -> str:
    """Article text as it goes into an answer's text: a bracketed number the article
    itself writes ("[3]", a footnote) gets an invisible word joiner, so that no reader of
    the answer (the page, the eval scorer) takes it for a citation marker. The citation's
    `quote` stays the exact text."""
    return _BRACKETED_NUMBER.sub(lambda m: f"[{m.group(1)}{WORD_JOINER}]", text)
