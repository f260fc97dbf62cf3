"""Chunks: exact offsets, within the model's word-piece budget, sentence-aligned, stable ids."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from index.chunker import chunk_article
from index.embedder import load_tokenizer
from index.reader import read_file
from index.types import Article
from rag.sentences import sentence_spans

BUNDLED = Path(__file__).resolve().parent.parent / "data" / "articles"
FURNITURE_LINES = {"Search", "Short Url", "Follow", "Helpful keywords", "Audio By Carbonatix",
                   "News > Politics & Government News", "Updated 10 January 2026"}


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


def chunks_of(path: Path, tokenizer, max_tokens=200, overlap=40):
    result = read_file(path, path.parent)
    return result, [c for a in result.articles
                    for c in chunk_article(a, result.text, tokenizer, max_tokens, overlap)]


@pytest.mark.parametrize("path", sorted(BUNDLED.iterdir()), ids=lambda p: p.name)
@pytest.mark.parametrize("max_tokens", [64, 200, 254])
def test_every_chunk_is_exact_and_fits(path, max_tokens, tokenizer):
    result, chunks = chunks_of(path, tokenizer, max_tokens, overlap=max_tokens // 5)
    file_text = path.read_text(encoding="utf-8")
    assert result.text == file_text
    assert chunks
    for chunk in chunks:
        assert file_text[chunk.start:chunk.end] == chunk.text
        assert len(tokenizer.encode(chunk.text, add_special_tokens=False).ids) <= max_tokens
        assert not {line.strip() for line in chunk.text.splitlines()} & FURNITURE_LINES
    assert len({c.id for c in chunks}) == len(chunks)


def test_chunks_stay_inside_spans_and_carry_metadata(tokenizer):
    result, chunks = chunks_of(BUNDLED / "004_94450483d03d6010.txt", tokenizer)
    spans = {a.article_id: a.spans for a in result.articles}
    for chunk in chunks:
        assert any(a <= chunk.start and chunk.end <= b for a, b in spans[chunk.article_id])
    dates = {c.published for c in chunks if "Aleppo" in c.text and "Kurdish" in c.text}
    assert dates == {"2026-01-10"}
    assert chunks[0].metadata()["source"] == "004_94450483d03d6010.txt"
    assert chunks[0].metadata()["published_ts"] == 1624924800
    assert chunks[0].id.startswith("004_94450483d03d6010.txt#0:")


def test_overlap_repeats_whole_sentences(tokenizer):
    _, chunks = chunks_of(BUNDLED / "004_94450483d03d6010.txt", tokenizer)
    same_span = [(a, b) for a, b in itertools.pairwise(chunks)
                 if a.article_id == b.article_id and b.start < a.end]
    assert same_span, "consecutive chunks of one paragraph run should overlap"
    for first, second in same_span:
        shared = first.text[second.start - first.start:]
        assert second.text.startswith(shared)


def test_ids_are_stable_and_follow_content(tokenizer):
    _, once = chunks_of(BUNDLED / "003_e7575791f94f3015.txt", tokenizer)
    _, again = chunks_of(BUNDLED / "003_e7575791f94f3015.txt", tokenizer)
    assert [c.id for c in once] == [c.id for c in again]


def test_over_long_sentence_is_cut_at_word_boundaries(tokenizer):
    text = "Start " + " ".join(f"unbelievably{i}" for i in range(300)) + " end."
    article = Article(article_id="x#0", source="x.txt", spans=((0, len(text)),))
    chunks = chunk_article(article, text, tokenizer, max_tokens=50, overlap=10)
    assert len(chunks) > 5
    for chunk in chunks:
        assert text[chunk.start:chunk.end] == chunk.text
        assert len(tokenizer.encode(chunk.text, add_special_tokens=False).ids) <= 50
        assert chunk.text.split()[0].startswith(("Start", "unbelievably"))
    assert chunks[-1].text.endswith("end.")


def test_sentences_respect_abbreviations():
    text = "The U.S. military said Monday it struck. Gen. Smith agreed. “Yes,” he said."
    found = [text[a:b] for a, b in sentence_spans(text)]
    assert found == ["The U.S. military said Monday it struck.", "Gen. Smith agreed.",
                     "“Yes,” he said."]
