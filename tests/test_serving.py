"""A serving engine follows what other processes do to its store: an ingest that removes
and edits files, and a `--rebuild`, while it answers. (An embedded Chroma client that stays
open keeps returning ids another process deleted, and a dropped collection's handle dies:
before the store published a generation, every question here failed.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from conftest import ROOT, make_settings

from index.embedder import HashEmbedder
from index.store import open_store
from rag.ask import Engine
from rag.retrieve import REFRESH_SECONDS

QUESTIONS = ["What did CENTCOM report?", "Who is Tom Barrack?", "What happened in Idlib?",
             "Kurdish forces in Aleppo", "Which militia groups did the US strike?"]


def ingest_elsewhere(settings, *flags: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSQA_", "OPENAI_"))}
    env |= {"NEWSQA_CORPUS_DIR": str(settings.corpus_dir),
            "NEWSQA_STORE_DIR": str(settings.store_dir), "NEWSQA_EMBEDDER": "hash",
            "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "rag.cli", "ingest", *flags], env=env,
                   cwd=settings.store_dir.parent, check=True, capture_output=True)


@pytest.fixture
def serving(tmp_path, corpus):
    settings = make_settings(tmp_path, corpus_dir=corpus, embedder="hash")
    ingest_elsewhere(settings)
    engine = Engine(settings)
    assert all(engine.ask(q).citations for q in QUESTIONS[:2])
    return engine


def asked_after_the_change(engine):
    time.sleep(REFRESH_SECONDS + 0.1)  # the engine looks at the generation once a second
    return [engine.ask(q) for q in QUESTIONS]


def test_an_ingest_elsewhere_that_removes_and_edits_files_is_followed(serving):
    corpus = serving.settings.corpus_dir
    removed, edited = sorted(corpus.iterdir())[:2]
    removed.unlink()
    edited.write_text(edited.read_text(encoding="utf-8").replace(
        "The", "The zanzibarite", 1), encoding="utf-8")
    ingest_elsewhere(serving.settings)

    answers = asked_after_the_change(serving)  # raised AttributeError (metadata None) before
    cited = {c.source for a in answers for c in a.citations}
    assert removed.name not in cited and cited
    hits = serving.retrieve("zanzibarite", 5).hits
    assert hits and "zanzibarite" in hits[0].chunk.text
    assert removed.name not in {c.source for c in serving.retriever.lexical.chunks}
    assert serving.status()["articles"] < 6


def test_a_rebuild_elsewhere_is_followed(serving):
    ingest_elsewhere(serving.settings, "--rebuild")
    answers = asked_after_the_change(serving)  # raised NotFoundError before
    assert all(a.citations for a in answers[:2])
    assert serving.store.count() == len(serving.retriever.lexical.chunks) > 10


def test_a_rebuild_is_survived_before_the_generation_is_looked_at(serving):
    ingest_elsewhere(serving.settings, "--rebuild")
    answer = serving.ask(QUESTIONS[1])  # within the second: the dead handle is reopened
    assert answer.citations


def test_the_generation_moves_only_when_an_ingest_changed_something(tmp_path, corpus):
    settings = make_settings(tmp_path, corpus_dir=corpus, embedder="hash")
    ingest_elsewhere(settings)
    store = open_store(settings, HashEmbedder())
    first = store.generation()
    assert first is not None
    ingest_elsewhere(settings)  # nothing changed
    assert store.generation() == first
    next(corpus.iterdir()).unlink()
    ingest_elsewhere(settings)
    assert store.generation() not in (first, None)


def test_a_start_loads_the_lexical_index_the_ingest_saved(tmp_path, corpus, monkeypatch):
    """#13: every process start read every chunk back out of Chroma and rebuilt BM25."""
    from index.store import Store, lexical_root

    settings = make_settings(tmp_path, corpus_dir=corpus, embedder="hash")
    ingest_elsewhere(settings)
    generation = open_store(settings, HashEmbedder()).generation()
    assert (lexical_root(settings) / "generations" / f"{generation}.json").is_file()
    built = Engine(settings).retrieve("Kurdish forces Aleppo", 5).hits

    def no_read_back(self):
        raise AssertionError("the chunks were read back out of Chroma")

    monkeypatch.setattr(Store, "all_chunks", no_read_back)
    engine = Engine(settings)
    loaded = engine.retrieve("Kurdish forces Aleppo", 5).hits
    assert [(h.chunk.id, round(h.score, 6)) for h in loaded] == [
        (h.chunk.id, round(h.score, 6)) for h in built]
    assert engine.ask(QUESTIONS[1]).citations


def test_a_damaged_saved_lexical_index_is_built_again(tmp_path, corpus):
    from index.store import lexical_root

    settings = make_settings(tmp_path, corpus_dir=corpus, embedder="hash")
    ingest_elsewhere(settings)
    generation = open_store(settings, HashEmbedder()).generation()
    manifest = json.loads((lexical_root(settings) / "generations" / f"{generation}.json")
                          .read_text())
    segment = lexical_root(settings) / "segments" / manifest["segments"][0]["name"]
    (segment / "records.json").write_text("[[broken")
    engine = Engine(settings)
    assert engine.ask(QUESTIONS[1]).citations
    assert len(engine.retriever.lexical.chunks) == engine.store.count()
