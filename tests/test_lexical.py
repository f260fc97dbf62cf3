"""The segmented lexical index (#13): an ingest adds a segment for what changed instead of
rebuilding BM25 over the archive, and every result equals a fresh build over the live
chunks, score for score."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from conftest import make_settings

from index.embedder import HashEmbedder
from index.ingest import ingest
from index.store import Store, lexical_root, open_store
from index.types import Chunk
from rag.lexical import LexicalIndex, SavedLexical, Segment

WORDS = ["army", "rebels", "ceasefire", "election", "minister", "vote", "court", "border",
         "oil", "market", "strike", "talks", "aid", "refugees", "drone", "city", "council",
         "budget", "trade", "deal", "protest"]


def chunk(i: int, source: str, text: str | None = None) -> Chunk:
    rng = random.Random(i)
    text = text or " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 30)))
    return Chunk(id=f"{source}:{i}", article_id=source, source=source, start=0,
                 end=len(text), text=text, published_ts=1_600_000_000 + i * 86_400)


def same_results(index: LexicalIndex, fresh: LexicalIndex) -> None:
    assert sorted(c.id for c in index.chunks) == sorted(c.id for c in fresh.chunks)
    for query in ["army rebels", "oil oil market", "ceasefire talks aid", "nothing here"]:
        got = {c.id: round(s, 5) for c, s in index.search(query, 50, None)}
        assert got == {c.id: round(s, 5) for c, s in fresh.search(query, 50, None)}
    assert index.idf("army") == pytest.approx(fresh.idf("army"))


def test_bm25_scores_are_those_of_bm25s():
    """The scores feed the answerer's trained ranker: they must be bm25s's, which it saw."""
    import bm25s

    from rag.terms import terms

    chunks = [chunk(i, f"s{i % 7}") for i in range(300)]
    reference = bm25s.BM25()
    reference.index([terms(c.text) or ["\x00"] for c in chunks], show_progress=False)
    index = LexicalIndex.build(chunks)
    for query in ["army", "rebels ceasefire ceasefire", "oil market trade deal"]:
        expected = reference.get_scores(terms(query))
        assert np.allclose(index.scores(terms(query)), expected, rtol=1e-5, atol=1e-6)


def test_changes_and_merges_equal_a_fresh_build():
    chunks = {f"s{n}": [chunk(n * 100 + i, f"s{n}") for i in range(5)] for n in range(40)}
    index = LexicalIndex.build([c for cs in chunks.values() for c in cs])
    rng = random.Random(7)
    for step in range(60):
        source = f"s{rng.randrange(50)}"
        if rng.random() < 0.3:
            chunks.pop(source, None)
            index = index.changed({source: None})
        else:
            chunks[source] = [chunk(step * 1000 + i, source) for i in range(rng.randint(1, 6))]
            index = index.changed({source: chunks[source]})
        if step % 10 == 9:
            same_results(index, LexicalIndex.build([c for cs in chunks.values() for c in cs]))
    assert len(index.segments) <= 8  # merged as they piled up, not one per change


def test_a_merged_segment_is_the_segment_built_from_its_chunks():
    chunks = [chunk(i, f"s{i % 3}") for i in range(60)]
    parts = [Segment.build(chunks[:25]), Segment.build(chunks[25:])]
    merged = Segment.merge([(s, np.ones(s.size, dtype=bool)) for s in parts])
    built = Segment.build(chunks)
    assert merged.terms == built.terms
    for name in ("starts", "rows", "counts", "lengths"):
        assert np.array_equal(getattr(merged, name), getattr(built, name))


def test_saved_segments_load_lazily_and_are_shared_between_generations(tmp_path):
    saved = SavedLexical(tmp_path)
    first = LexicalIndex.build([chunk(i, f"s{i % 4}") for i in range(400)])
    saved.save(first, "g1")
    base = saved.load("g1")
    assert "chunks" not in vars(base.segments[0])  # marking deletions reads no texts
    second = base.changed({"s1": [chunk(9999, "s1", "army army rebels")]})
    assert "chunks" not in vars(second.segments[0])
    saved.save(second, "g2")
    manifests = [json.loads((tmp_path / "generations" / f"{g}.json").read_text())
                 for g in ("g1", "g2")]
    assert manifests[0]["segments"][0]["name"] == manifests[1]["segments"][0]["name"]
    assert len(manifests[1]["segments"][0]["deleted"]) == 100
    reader = SavedLexical(tmp_path)
    held = reader.get("g1", lambda: pytest.fail("built, though saved")).segments[0]
    assert reader.get("g2", lambda: pytest.fail("built")).segments[0] is held
    same_results(reader.get("g2", list), LexicalIndex.build(
        [c for c in first.chunks if c.source != "s1"] + [chunk(9999, "s1", "army army rebels")]))


def test_only_the_kept_generations_and_their_segments_stay_on_disk(tmp_path, monkeypatch):
    monkeypatch.setattr("rag.lexical.SETTLE_SECONDS", -1)
    saved = SavedLexical(tmp_path)
    (tmp_path / "old-generation").mkdir()  # the earlier layout: one folder per generation
    (tmp_path / "old-generation" / "complete").touch()
    (tmp_path / "manifests").mkdir()  # what others keep in the same folder stays
    index = LexicalIndex.build([chunk(i, "s") for i in range(10)])
    for n in range(4):
        index = LexicalIndex.build([chunk(n * 100 + i, f"s{n}") for i in range(10)])
        saved.save(index, f"g{n}")
    assert sorted(p.stem for p in (tmp_path / "generations").glob("*.json")) == ["g2", "g3"]
    assert len(list((tmp_path / "segments").iterdir())) == 2
    assert not (tmp_path / "old-generation").exists()
    assert (tmp_path / "manifests").is_dir()


def test_a_one_file_ingest_reads_no_chunk_back_and_matches_a_fresh_build(
        tmp_path, corpus, monkeypatch):
    settings = make_settings(tmp_path, corpus_dir=corpus, embedder="hash")
    ingest(settings, progress=False)

    def no_read_back(self):
        raise AssertionError("the ingest read every chunk back out of Chroma")

    edited, removed = sorted(corpus.iterdir())[:2]
    edited.write_text(edited.read_text(encoding="utf-8") + "\n\nA zanzibarite spoke.\n",
                      encoding="utf-8")
    removed.unlink()
    (corpus / "new.txt").write_text("Ceasefire talks in Zanzibar began on Monday.\n",
                                    encoding="utf-8")
    with monkeypatch.context() as patch:
        patch.setattr(Store, "all_chunks", no_read_back)
        report = ingest(settings, progress=False)
    assert report.files_changed == 2 and report.files_removed == 1

    store = open_store(settings, HashEmbedder())
    index = SavedLexical(lexical_root(settings)).get(store.generation(), no_read_back)
    assert index.size == store.count()
    same_results(index, LexicalIndex.build(store.all_chunks()))
    assert {c.source for c, _ in index.search("zanzibarite", 5, None)} == {edited.name}


def test_a_reader_without_the_writers_saved_index_reads_only_the_changed_sources(
        tmp_path, corpus, monkeypatch):
    """A chat process on another machine than the writer has no saved index to load: the
    generation says which sources changed, and the reader fetches only their chunks."""
    from rag.retrieve import HybridRetriever

    settings = make_settings(tmp_path, corpus_dir=corpus, embedder="hash")
    ingest(settings, progress=False)
    embedder = HashEmbedder()
    elsewhere = SavedLexical(tmp_path / "another-machine")
    reader = HybridRetriever(open_store(settings, embedder), embedder,
                             reopen=lambda: open_store(settings, embedder), saved=elsewhere)
    edited, removed = sorted(corpus.iterdir())[:2]
    edited.write_text(edited.read_text(encoding="utf-8") + "\n\nA zanzibarite spoke.\n",
                      encoding="utf-8")
    removed.unlink()
    ingest(settings, progress=False)

    def no_read_back(self):
        raise AssertionError("the reader read every chunk back out of Chroma")

    monkeypatch.setattr(Store, "all_chunks", no_read_back)
    reader.refresh(force=True)
    assert reader.lexical.size == reader.store.count()
    monkeypatch.undo()
    same_results(reader.lexical, LexicalIndex.build(reader.store.all_chunks()))
    assert [c.source for c, _ in reader.lexical.search("zanzibarite", 5, None)] == [edited.name]
    assert (tmp_path / "another-machine" / "generations"
            / f"{reader.store.generation()}.json").is_file()


def test_a_rebuild_lists_no_change_so_readers_build_it_whole(tmp_path, corpus):
    settings = make_settings(tmp_path, corpus_dir=corpus, embedder="hash")
    ingest(settings, progress=False)
    (corpus / "new.txt").write_text("Ceasefire talks began on Monday.\n", encoding="utf-8")
    ingest(settings, progress=False)
    store = open_store(settings, HashEmbedder())
    follows, changed = store.change()
    assert follows and changed == ["new.txt"]
    ingest(settings, rebuild=True, progress=False)
    assert open_store(settings, HashEmbedder()).change() == (None, None)


def test_an_index_saved_with_other_terms_is_not_loaded(tmp_path, monkeypatch):
    """Saved postings hold stems: after a change to terms() they would miss every word
    stemmed otherwise."""
    saved = SavedLexical(tmp_path)
    saved.save(LexicalIndex.build([chunk(i, "s") for i in range(5)]), "g1")
    assert SavedLexical(tmp_path).load("g1") is not None
    monkeypatch.setattr("rag.lexical.TERMS_VERSION", -1)
    assert SavedLexical(tmp_path).load("g1") is None


def test_a_small_change_never_rewrites_the_big_segment():
    """Review: a mostly-deleted small segment was merged into its big neighbour."""
    big = [chunk(i, f"big{i % 50}") for i in range(1000)]
    index = LexicalIndex.build(big).changed({f"small{i}": [chunk(5000 + i, f"small{i}")]
                                             for i in range(4)})
    base = index.segments[0].name
    index = index.changed({f"small{i}": [chunk(6000 + i, f"small{i}")] for i in range(3)})
    assert index.segments[0].name == base
    same_results(index, LexicalIndex.build(
        big + [chunk(5003, "small3")] + [chunk(6000 + i, f"small{i}") for i in range(3)]))


def test_after_a_killed_ingest_the_next_one_builds_the_lexical_index_from_the_store(
        tmp_path, corpus):
    """Review: a run killed after writing (no `finally`, no publish) left chunks that the
    next run saw as recorded, so a derived index would lack them for good."""
    settings = make_settings(tmp_path, corpus_dir=corpus, embedder="hash")
    ingest(settings, progress=False)
    edited = min(corpus.iterdir())
    edited.write_text(edited.read_text(encoding="utf-8") + "\n\nA zanzibarite spoke.\n",
                      encoding="utf-8")
    from index.ingest import _Run

    store = open_store(settings, HashEmbedder())
    killed = _Run(settings, store, HashEmbedder())  # what a run does before it is killed
    killed.add_files([edited], progress=False)
    store.close()  # ... and then nothing: no publish
    assert open_store(settings, HashEmbedder()).interrupted()

    report = ingest(settings, progress=False)
    assert report.files_changed == 0  # the dead run recorded the file
    store = open_store(settings, HashEmbedder())
    assert not store.interrupted()
    index = SavedLexical(lexical_root(settings)).get(store.generation(), list)
    same_results(index, LexicalIndex.build(store.all_chunks()))
    assert [c.source for c, _ in index.search("zanzibarite", 5, None)] == [edited.name]
