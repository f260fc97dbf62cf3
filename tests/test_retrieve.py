"""Hybrid retrieval: dense + BM25 fused by RRF, with source and date filters on both sides."""

from __future__ import annotations

from datetime import date

import pytest

from index.types import Chunk
from rag.ask import Engine
from rag.lexical import LexicalIndex, day_start
from rag.retrieve import chroma_where, fuse, passes
from rag.types import Filters


@pytest.fixture(scope="module")
def engine(bundled_index):
    return Engine(bundled_index)


def chunk(id, source="a.txt", published_ts=None, text="text"):
    return Chunk(id=id, article_id=id, source=source, start=0, end=len(text), text=text,
                 published_ts=published_ts)


def test_filters_become_a_chroma_where():
    where = chroma_where(Filters(sources=["a.txt"], since=date(2026, 1, 1)))
    assert where == {"$and": [{"source": {"$in": ["a.txt"]}},
                              {"published_ts": {"$gte": day_start(date(2026, 1, 1))}}]}
    assert chroma_where(Filters()) is None and chroma_where(None) is None


def test_the_same_filter_applies_to_one_chunk():
    filters = Filters(until=date(2021, 12, 31))
    assert passes(chunk("x", published_ts=day_start(date(2021, 6, 29))), filters)
    assert not passes(chunk("y", published_ts=day_start(date(2026, 1, 10))), filters)
    assert not passes(chunk("z"), filters)  # undated: unknown, so not in the range


@pytest.mark.parametrize("filters", [
    Filters(sources=["b.txt"]), Filters(sources=["a.txt", "c.txt", "nowhere.txt"]),
    Filters(since=date(2021, 1, 1)), Filters(until=date(2021, 12, 31)),
    Filters(sources=["a.txt"], since=date(2020, 1, 1), until=date(2025, 1, 1)), Filters(),
])
def test_the_bm25_mask_is_the_same_test_as_passes(filters):
    """#13: the mask was one Python call per chunk (134 ms at 58k chunks); it is now built
    from arrays kept with the index, and must agree with `passes` row for row."""
    stamps = [None, day_start(date(2019, 5, 1)), day_start(date(2021, 6, 29)),
              day_start(date(2026, 1, 10))]
    chunks = [chunk(f"{i}", source=f"{'abc'[i % 3]}.txt", published_ts=stamps[i % 4],
                    text=f"word{i} news") for i in range(24)]
    index = LexicalIndex.build(chunks)
    assert index.mask(filters).tolist() == [float(passes(c, filters)) for c in chunks]


def test_fusion_ranks_by_reciprocal_rank_and_keeps_each_sides_best():
    a, b, c, d = (chunk(i) for i in "abcd")
    hits = fuse([(a, 0.9), (b, 0.8), (c, 0.7)], [(d, 9.0), (b, 5.0), (a, 1.0)], k=2)
    # RRF alone would keep a (1/61 + 1/63) and b (2/62); BM25's first choice d replaces b.
    assert [h.chunk.id for h in hits] == ["a", "d"]
    full = fuse([(a, 0.9), (b, 0.8)], [(b, 5.0), (a, 1.0)], k=5)
    assert full[0].score == pytest.approx(1 / 61 + 1 / 62)


def test_bm25_finds_exact_words_and_respects_the_mask():
    chunks = [chunk("1", text="Pentagon Press Secretary John Kirby said"),
              chunk("2", source="b.txt", text="Kirby spoke again")]
    index = LexicalIndex.build(chunks)
    assert {c.id for c, _ in index.search("Kirby", 5, None)} == {"1", "2"}
    assert next(c.id for c, _ in index.search("Pentagon Kirby", 5, None)) == "1"
    assert [c.id for c, _ in index.search("Kirby", 5, Filters(sources=["b.txt"]))] == ["2"]
    assert index.search("the of and", 5, None) == []


def test_hybrid_finds_a_name_only_bm25_ranks_first(engine):
    hits = engine.retrieve("Who is the Pentagon press secretary?", top_k=5).hits
    assert any("John Kirby" in h.chunk.text for h in hits)
    assert len(hits) == 5


def test_source_filter_limits_both_sides(engine):
    filters = Filters(sources=["003_e7575791f94f3015.txt"])
    hits = engine.retrieve("When was Assad's government overthrown?", 5, filters).hits
    assert hits and {h.chunk.source for h in hits} == {"003_e7575791f94f3015.txt"}
    answer = engine.ask("When was Assad's government overthrown?", filters=filters)
    assert {c.source for c in answer.citations} <= {"003_e7575791f94f3015.txt"}


@pytest.mark.parametrize("filters", [
    Filters(sources=["003_e7575791f94f3015.txt"]), Filters(since=date(2026, 1, 1)),
    Filters(sources=["003_e7575791f94f3015.txt", "nowhere.txt"], until=date(2021, 12, 31)),
])
def test_a_selective_filter_searched_exactly_finds_what_chromas_where_finds(engine, filters):
    """#13: a filter leaving few chunks compares their vectors in numpy instead of running
    Chroma's filtered search, whose cost grows with the archive; the result is the same."""
    from rag.retrieve import chroma_where

    retriever = engine.retriever
    vector = engine.embedder.embed(["US airstrikes on militias in Syria"])[0]
    chosen = retriever.lexical.matching(filters, limit=10_000)
    exact = retriever.store.nearest_among(vector, 8, [c.id for c in chosen])
    searched = retriever.store.nearest_ids(vector, 8, where=chroma_where(filters))
    assert [i for i, _ in exact] == [i for i, _ in searched]
    assert [s for _, s in exact] == pytest.approx([s for _, s in searched], abs=1e-5)
    assert retriever.lexical.matching(filters, limit=len(chosen) - 1) is None


def test_a_source_the_index_does_not_hold_is_an_error_that_suggests_names(engine):
    """#12: `--source 000.txt` or a typo answered "The articles don't say" without a word."""
    from rag.errors import FilterError

    with pytest.raises(FilterError, match=r"'000_d68abaf6e094f2ff\.tx'.*Did you mean "
                                          r"000_d68abaf6e094f2ff\.txt"):
        engine.ask("Who died?", filters=Filters(sources=["000_d68abaf6e094f2ff.tx"]))


def test_a_source_given_as_a_path_to_a_corpus_file_is_that_file(engine, bundled_index):
    path = str(bundled_index.corpus_dir / "003_e7575791f94f3015.txt")
    answer = engine.ask("When was Assad's government overthrown?",
                        filters=Filters(sources=[path]))
    assert {c.source for c in answer.citations} == {"003_e7575791f94f3015.txt"}


def test_a_date_filter_says_how_many_undated_articles_it_left_out(engine):
    answer = engine.ask("US airstrikes on militias", filters=Filters(until=date(2021, 12, 31)))
    assert answer.notes == [("The date filter applies to dated articles: 4 articles "
                             "without a date were left out.")]
    one = engine.ask("US airstrikes on militias", filters=Filters(
        until=date(2021, 12, 31), sources=["004_94450483d03d6010.txt"]))
    assert one.notes == []


def test_date_filter_limits_both_sides(engine):
    filters = Filters(since=date(2026, 1, 1))
    hits = engine.retrieve("US airstrikes on militias", 5, filters).hits
    assert hits
    assert all(h.chunk.published and h.chunk.published >= "2026-01-01" for h in hits)
    old = engine.retrieve("US airstrikes on militias", 5, Filters(until=date(2021, 12, 31))).hits
    assert old and all(h.chunk.published == "2021-06-29" for h in old)


def test_status_reports_the_corpus(engine):
    status = engine.status()
    assert status["backend"] == "extractive"
    assert status["articles"] == 6 and status["chunks"] > 10
    assert status["newest"] == "2026-01-10"


def test_dense_side_sees_chunks_stored_after_the_retriever_was_built(tmp_path):
    """Another process may add chunks between refreshes: they are fetched, not dropped."""
    from conftest import make_settings

    from index.embedder import HashEmbedder
    from index.store import open_store
    from rag.retrieve import HybridRetriever

    embedder = HashEmbedder()
    store = open_store(make_settings(tmp_path), embedder, create=True)
    old = chunk("old", text="Council approves the budget")
    store.upsert([old], embedder.embed([old.text]))
    retriever = HybridRetriever(store, embedder)
    new = chunk("new", text="Troops cross the northern border")
    store.upsert([new], embedder.embed([new.text]))
    hits = retriever.retrieve("troops border", top_k=2).hits
    assert hits[0].chunk == new


def test_exact_dense_search_compares_every_vector_and_keeps_to_the_filters(bundled_index):
    """What the answerer's training reads: the true nearest chunks (Chroma's HNSW graph is
    approximate and differs from build to build), with the same filters as Chroma's."""
    import numpy as np

    exact = Engine(bundled_index, exact=True).retriever
    ids, matrix = exact.store.all_vectors()
    assert len(ids) == exact.store.count() == len(matrix)
    vector = exact.embedder.embed_queries(["Kurdish forces leave Aleppo"])[0]
    order = np.argsort(-(matrix @ vector), kind="stable")[:8]
    assert [c.id for c, _ in exact.dense(vector, 8, None)] == [ids[i] for i in order]
    source = exact.lexical.by_id[ids[order[-1]]].source
    kept = exact.dense(vector, 8, Filters(sources=[source]))
    assert kept and {c.source for c, _ in kept} == {source}
