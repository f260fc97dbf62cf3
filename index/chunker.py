"""Cut articles into sentence-aligned chunks that fit the embedder (MiniLM word pieces).

A chunk never crosses a furniture gap (it lies inside one of the article's spans), keeps
exact file offsets (`text[chunk.start:chunk.end] == chunk.text`) and overlaps the previous
chunk by up to `overlap` word pieces of whole sentences.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from index.layout import content_hash
from index.types import Article, Chunk
from rag.sentences import sentence_spans, trim


class TokenCounter(Protocol):
    def encode_batch(self, inputs: list[str], add_special_tokens: bool = ...) -> list: ...


def chunk_article(article: Article, text: str, tokenizer: TokenCounter, max_tokens: int,
                  overlap: int) -> list[Chunk]:
    """Chunks of one article. `text` is the file text its spans point into."""
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for span_start, span_end in article.spans:
        units = _units(text, span_start, span_end, tokenizer, max_tokens)
        for start, end in _pack(units, max_tokens, overlap):
            chunks.append(_make_chunk(article, text[start:end], start, end, seen))
    return chunks


def _units(text: str, start: int, end: int, tokenizer: TokenCounter,
           max_tokens: int) -> list[tuple[int, int, int]]:
    """(start, end, word pieces) of each sentence; over-long sentences cut at word starts."""
    spans = sentence_spans(text, start, end)
    encodings = tokenizer.encode_batch([text[a:b] for a, b in spans], add_special_tokens=False)
    units = []
    for (a, b), encoding in zip(spans, encodings):
        if len(encoding.ids) <= max_tokens:
            units.append((a, b, len(encoding.ids)))
        else:
            units.extend(_cut_long(text, a, encoding, max_tokens))
    return units


def _cut_long(text: str, base: int, encoding, max_tokens: int) -> Iterator[tuple[int, int, int]]:
    """Pieces of at most max_tokens word pieces, cut before a word's first piece."""
    offsets, tokens = encoding.offsets, encoding.tokens
    first = 0
    while first < len(tokens):
        last = min(first + max_tokens, len(tokens))
        if last < len(tokens):
            cut = last
            while cut > first + 1 and tokens[cut].startswith("##"):
                cut -= 1
            last = cut
        piece = trim(text, base + offsets[first][0], base + offsets[last - 1][1])
        if piece:
            yield piece[0], piece[1], last - first
        first = last


def _pack(units: list[tuple[int, int, int]], max_tokens: int,
          overlap: int) -> Iterator[tuple[int, int]]:
    """Greedy packing of sentences; each chunk repeats the previous one's last sentences
    (up to `overlap` word pieces) so a fact split across chunks is still found whole."""
    i = 0
    while i < len(units):
        j, size = i, 0
        while j < len(units) and size + units[j][2] <= max_tokens:
            size += units[j][2]
            j += 1
        j = max(j, i + 1)
        yield units[i][0], units[j - 1][1]
        if j >= len(units):
            return
        i = _overlap_start(units, i, j, overlap)


def _overlap_start(units: list[tuple[int, int, int]], i: int, j: int, overlap: int) -> int:
    back, size = j, 0
    while back - 1 > i and size + units[back - 1][2] <= overlap:
        back -= 1
        size += units[back][2]
    return back


def _make_chunk(article: Article, text: str, start: int, end: int,
                seen: dict[str, int]) -> Chunk:
    """Chunk id = article id + content hash (+ a counter for text repeated in the article)."""
    digest = content_hash(text)
    seen[digest] = seen.get(digest, 0) + 1
    suffix = f"-{seen[digest]}" if seen[digest] > 1 else ""
    return Chunk(
        id=f"{article.article_id}:{digest}{suffix}", article_id=article.article_id,
        source=article.source, start=start, end=end, text=text, title=article.title,
        published=article.published, published_ts=article.published_ts,
        outlet=article.outlet, byline=article.byline, dateline=article.dateline,
        date_text=article.date_text,
    )
