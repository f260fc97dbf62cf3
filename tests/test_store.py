"""The Chroma store: round trips, cosine queries, filters, embedder signature, server mode."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index.embedder import HashEmbedder
from index.ingest import ingest
from index.store import describe, open_store
from index.types import Chunk
from rag.errors import EmbedderMismatchError, IndexMissingError, StoreError
from tests.conftest import make_settings

CHROMA = Path(sys.executable).parent / "chroma"


def sample_chunks() -> list[Chunk]:
    return [
        Chunk(id="a.txt#0:1", article_id="a.txt#0", source="a.txt", start=0, end=20,
              text="Troops crossed the border", title="Border", published="2021-06-29",
              published_ts=1624924800, outlet="AP"),
        Chunk(id="a.txt#0:2", article_id="a.txt#0", source="a.txt", start=21, end=50,
              text="Markets fell on energy prices", title="Border", published="2021-06-29",
              published_ts=1624924800),
        Chunk(id="b.txt#0:1", article_id="b.txt#0", source="b.txt", start=5, end=30,
              text="League season ends with a win", date_text="November 11"),
    ]


@pytest.fixture
def store(settings):
    embedder = HashEmbedder()
    store = open_store(settings, embedder, create=True)
    chunks = sample_chunks()
    store.upsert(chunks, embedder.embed([c.text for c in chunks]))
    return store


def test_round_trip_keeps_every_field(store):
    assert sorted(store.all_chunks(), key=lambda c: c.id) == sorted(sample_chunks(),
                                                                     key=lambda c: c.id)
    assert store.ids_by_source() == {"a.txt": {"a.txt#0:1", "a.txt#0:2"}, "b.txt": {"b.txt#0:1"}}


def test_upsert_is_idempotent_and_delete_removes(store):
    chunks = sample_chunks()
    store.upsert(chunks, HashEmbedder().embed([c.text for c in chunks]))
    assert store.count() == 3
    store.delete(["a.txt#0:2"])
    assert store.count() == 2 and store.get(["a.txt#0:2"]) == []


def test_query_returns_cosine_similarity_best_first(store):
    vector = HashEmbedder().embed(["Troops crossed the border"])[0]
    results = store.query(vector, k=5)
    assert results[0][0].id == "a.txt#0:1"
    assert results[0][1] == pytest.approx(1.0, abs=1e-5)
    assert [s for _, s in results] == sorted((s for _, s in results), reverse=True)


def test_nearest_ids_match_query_without_fetching_texts(store):
    vector = HashEmbedder().embed(["Troops crossed the border"])[0]
    full = store.query(vector, k=5)
    assert store.nearest_ids(vector, k=5) == [(c.id, s) for c, s in full]
    assert len(full) == 3  # k beyond the collection's size is fine


def test_query_with_date_filter(store):
    vector = HashEmbedder().embed(["League season"])[0]
    results = store.query(vector, k=5, where={"published_ts": {"$gte": 1600000000}})
    assert {c.source for c, _ in results} == {"a.txt"}


def test_other_embedder_raises_mismatch_with_rebuild_hint(settings, store):
    with pytest.raises(EmbedderMismatchError, match="newsqa ingest --rebuild"):
        open_store(settings, HashEmbedder(dimension=32))


def test_missing_index(settings):
    with pytest.raises(IndexMissingError, match="newsqa ingest"):
        open_store(settings, HashEmbedder())
    with pytest.raises(IndexMissingError):
        describe(settings)


def test_manifest_round_trip(store):
    store.record_files({"a.txt": "f1", "b.txt": "f2"})
    store.forget_files(["b.txt"])
    assert store.manifest() == {"a.txt": "f1"}


def test_describe_counts(settings, store):
    info = describe(settings)
    assert (info["articles"], info["chunks"], info["files"]) == (2, 3, 2)
    assert info["newest"] == "2021-06-29" and info["embedder"] == "hash-64 (64-d)"


def test_llama_index_views_keep_ids_and_offsets(store):
    from llama_index.core.vector_stores.types import VectorStoreQuery

    from index.store import to_text_node

    node = to_text_node(sample_chunks()[0])
    assert (node.node_id, node.start_char_idx, node.end_char_idx) == ("a.txt#0:1", 0, 20)
    vector = HashEmbedder().embed(["Troops crossed the border"])[0].tolist()
    found = store.as_vector_store().query(VectorStoreQuery(query_embedding=vector,
                                                           similarity_top_k=1))
    assert found.ids == ["a.txt#0:1"] and found.nodes[0].metadata["source"] == "a.txt"


# -- server mode: a real `chroma run` on a loopback port --

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def chroma_process(tmp_path):
    port = free_port()
    log = (tmp_path / "chroma.log").open("w")
    server = subprocess.Popen([str(CHROMA), "run", "--path", str(tmp_path / "server-data"),
                               "--host", "127.0.0.1", "--port", str(port)],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, server)
        yield port, server
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.close()


@pytest.fixture
def chroma_server(chroma_process):
    return chroma_process[0]


def _wait_for_port(port: int, server: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, "chroma run exited early"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"chroma run did not listen on {port}")


def test_server_mode_ingest_and_query(tmp_path, chroma_server):
    settings = make_settings(tmp_path, chroma_host="127.0.0.1", chroma_port=chroma_server)
    embedder = HashEmbedder()
    first = ingest(settings, progress=False, embedder=embedder)
    again = ingest(settings, progress=False, embedder=embedder)
    store = open_store(settings, embedder)
    assert first.chunks_added == store.count() > 0
    assert again.chunks_added == 0 and again.chunks_unchanged == store.count()
    assert not (tmp_path / "store").exists()  # nothing went to the local store dir
    vector = embedder.embed(["Kurdish forces Aleppo ceasefire"])[0]
    (best, _), = store.query(vector, k=1)
    assert best.source == "004_94450483d03d6010.txt"
    assert describe(settings)["store"] == f"http://127.0.0.1:{chroma_server}"


def test_unreachable_server_is_a_store_error(tmp_path):
    settings = make_settings(tmp_path, chroma_host="127.0.0.1", chroma_port=free_port())
    with pytest.raises(StoreError, match="chroma run"):
        open_store(settings, HashEmbedder(), create=True)


def test_a_chroma_server_that_dies_is_a_store_error_not_an_httpx_one(tmp_path, chroma_process):
    """#11: raw httpx errors appeared when the Chroma server died."""
    port, server = chroma_process
    settings = make_settings(tmp_path, chroma_host="127.0.0.1", chroma_port=port)
    embedder = HashEmbedder()
    ingest(settings, progress=False, embedder=embedder)
    store = open_store(settings, embedder)
    server.kill()
    server.wait(timeout=15)
    with pytest.raises(StoreError, match="Chroma server failed or did not answer"):
        store.query(embedder.embed(["Aleppo"])[0], k=1)
    with pytest.raises(StoreError, match="Chroma server"):
        store.count()


def test_the_manifest_is_read_in_pages(tmp_path, monkeypatch):
    """#13: at 35,600 files one read of the whole manifest failed in Chroma's SQLite ("too
    many SQL variables", past 32,766), so every ingest of a big archive did."""
    from index.embedder import HashEmbedder

    settings = make_settings(tmp_path, embedder="hash")
    store = open_store(settings, HashEmbedder(), create=True)
    entries = {f"f{i}.txt": {"fingerprint": "x:v", "size": i, "mtime_ns": i, "chunks": 0,
                             "at": 1.0} for i in range(20)}
    store.record_files(entries)
    monkeypatch.setattr("index.store.PAGE", 7)
    assert store.manifest_entries() == entries
