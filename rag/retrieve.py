"""Hybrid retrieval: dense (Chroma) and BM25 (rag.lexical, over the same chunk texts), fused
by RRF.

LlamaIndex's BM25Retriever cannot see chunks that live only in Chroma, so the lexical side
is kept here: saved beside the store per generation (`SavedLexical`), written by the ingest
that made the generation, and loaded by every process start and refresh. Filters apply to
both sides alike.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from time import monotonic
from typing import TYPE_CHECKING

import numpy as np

from index.types import Chunk
from rag.errors import IndexMissingError, StoreChangedError, StoreError
from rag.lexical import LexicalIndex, SavedLexical, day_start
from rag.types import Filters

if TYPE_CHECKING:
    from index.store import Store

log = logging.getLogger(__name__)

RRF_K = 60  # the constant from Cormack et al. (2009); damps the weight of top ranks
POOL_FACTOR = 4  # each side proposes this many times top_k candidates to the fusion
REFRESH_SECONDS = 1.0  # how often to look whether another process published a change
# A filter that leaves at most this many chunks is searched exactly, over their vectors
# fetched by id: measured on the BBC archive (7k chunks), 50 chunks cost 1.5 ms that way
# against 6.1 ms for Chroma's filtered search, and the two meet near 500.
EXACT_LIMIT = 256


@dataclass
class Hit:
    chunk: Chunk
    score: float  # fused RRF score
    dense: float = 0.0  # cosine similarity of chunk and query (0 when dense missed it)
    lexical: float = 0.0  # BM25 score (0 when BM25 missed it)


@dataclass
class Retrieval:
    hits: list[Hit]
    query_vector: np.ndarray  # reused by the extractive answerer when it is in its space
    query: str = ""
    space: str = ""  # the name of the embedder that made query_vector


class HybridRetriever:
    """Dense + BM25 retrieval over one store; follows the changes other processes make.

    `reopen` opens the store afresh. When the store's published generation moves (an
    ingest or a rebuild elsewhere), the retriever closes its client, reopens it and loads
    the new generation's lexical side (the segments it does not hold yet); requests
    meanwhile are served from what it held."""

    def __init__(self, store, embedder, reopen: Callable[[], Store] | None = None,
                 saved: SavedLexical | None = None, exact: bool = False) -> None:
        self.store: Store | None = store
        # exact: nearest chunks by comparing every vector (numpy), not by Chroma's HNSW
        # graph, which is approximate and differs from build to build (9 of 60 bbc-dev
        # questions got another top 25): what the answerer's training reads, so that a
        # retrain on another machine reproduces the committed model.
        self.exact = exact
        self._vectors: tuple[list[Chunk], np.ndarray] | None = None  # for `exact`
        self.embedder = embedder
        self._reopen = reopen
        self._saved = saved or SavedLexical(None)
        self._lock = threading.Lock()  # store calls and the swap of the store
        self._generation = store.generation()
        self.lexical = self._saved.get(self._generation, store.all_chunks)
        self._checked = monotonic()

    def refresh(self, force: bool = False) -> None:
        """Reopen the store and load its BM25 side when another process published a change.
        Looked at at most once a second (one small read), unless `force`d."""
        now = monotonic()
        if not force and now - self._checked < REFRESH_SECONDS:
            return
        self._checked = now
        with self._lock:
            try:
                generation = self.store.generation() if self.store else None
                if self.store is not None and generation == self._generation:
                    return
                self._swap()
            except (StoreError, IndexMissingError) as error:  # retried at the next look
                log.warning("the store changed and cannot be reopened yet (%s): answering "
                            "from the passages held", error)

    def _swap(self) -> None:
        if self._reopen is not None:
            if self.store is not None:
                self.store.close()
                self.store = None
            self.store = self._reopen()
        self._vectors = None
        # Both move together, once the new index exists: a failure here leaves the held
        # generation in place, so the next look tries again from it.
        generation = self.store.generation()
        lexical = self._saved.get(generation, self.store.all_chunks,
                                  derive=self._follow(self._generation))
        self.lexical, self._generation = lexical, generation

    def _follow(self, held: str | None) -> Callable[[], LexicalIndex | None] | None:
        """How to get the new generation's lexical index from the one held, when the
        store says which sources it changed since then: only their chunks are read. (A
        reader on another machine than the writer has no saved index to load.)"""
        follows, changed = self.store.change()
        if held is None or follows != held or changed is None:
            return None
        lexical = self.lexical

        def derive() -> LexicalIndex | None:
            found = self.store.chunks_of(changed)
            index = lexical.changed({source: found.get(source) for source in changed})
            return index if index.size == self.store.count() else None

        return derive

    def retrieve(self, query: str, top_k: int, filters: Filters | None = None) -> Retrieval:
        vector = self.embedder.embed_queries([query])[0]
        pool = max(top_k * POOL_FACTOR, 20)
        dense = self.dense(vector, pool, filters)
        lexical = self.lexical.search(query, pool, filters)
        return Retrieval(hits=fuse(dense, lexical, top_k), query_vector=vector, query=query,
                         space=self.embedder.name)

    def dense(self, vector: np.ndarray, k: int, filters: Filters | None):
        """Chroma's nearest chunks, taken from the chunks held for BM25 (a fetch of their
        texts from the store costs more than the search); fetched when one is unknown.
        A collection dropped under us is reopened once; without a store, none."""
        for attempt in range(2):
            try:
                with self._lock:
                    return self._dense(vector, k, filters)
            except StoreChangedError as error:
                if attempt == 0:
                    self.refresh(force=True)
                else:
                    log.warning("dense retrieval failed after reopening the store (%s): "
                                "answering from BM25 alone", error)
        return []

    def _dense(self, vector: np.ndarray, k: int, filters: Filters | None):
        if self.store is None or not self.lexical.chunks:
            return []
        if self.exact:
            return self._exactly(vector, k, filters)
        where = chroma_where(filters)
        chosen = self.lexical.matching(filters, EXACT_LIMIT) if where else None
        if chosen is not None:
            nearest = self.store.nearest_among(vector, k, [c.id for c in chosen])
        else:
            nearest = self.store.nearest_ids(vector, k, where=where)
        held = self.lexical.by_id
        if all(chunk_id in held for chunk_id, _ in nearest):
            return [(held[chunk_id], similarity) for chunk_id, similarity in nearest]
        return self.store.query(vector, k, where=where)  # the store changed under us

    def _exactly(self, vector: np.ndarray, k: int, filters: Filters | None):
        if self._vectors is None:
            ids, matrix = self.store.all_vectors()
            self._vectors = [self.lexical.by_id[i] for i in ids], matrix
        chunks, matrix = self._vectors
        similarity = matrix @ np.asarray(vector, dtype=np.float32)
        allowed = np.array([passes(c, filters) for c in chunks], dtype=bool)
        similarity[~allowed] = -np.inf
        best = np.argsort(-similarity, kind="stable")[:k]
        return [(chunks[i], float(similarity[i])) for i in best if allowed[i]]


def fuse(dense: list[tuple[Chunk, float]], lexical: list[tuple[Chunk, float]], k: int) -> list[Hit]:
    """Reciprocal rank fusion: score = sum over lists of 1 / (RRF_K + rank).

    Each side's first choice is kept in the result even when the other side ranked it low:
    an exact name match ("Pentagon Press Secretary") can be far down the dense list."""
    ranked = rrf(dense, lexical)
    result = ranked[:k]
    for side in (dense, lexical):
        if side and k > 1 and all(h.chunk.id != side[0][0].id for h in result):
            result[-1] = next(h for h in ranked if h.chunk.id == side[0][0].id)
            result.sort(key=lambda h: (-h.score, h.chunk.id))
    return result


def rrf(dense: list[tuple[Chunk, float]], lexical: list[tuple[Chunk, float]]) -> list[Hit]:
    hits: dict[str, Hit] = {}
    for rank, (chunk, similarity) in enumerate(dense, start=1):
        hits[chunk.id] = Hit(chunk, 1.0 / (RRF_K + rank), dense=similarity)
    for rank, (chunk, bm25_score) in enumerate(lexical, start=1):
        hit = hits.setdefault(chunk.id, Hit(chunk, 0.0))
        hit.score += 1.0 / (RRF_K + rank)
        hit.lexical = bm25_score
    return sorted(hits.values(), key=lambda h: (-h.score, h.chunk.id))


def chroma_where(filters: Filters | None) -> dict | None:
    """Filters as a Chroma `where`: {"source": {"$in": [...]}}, {"published_ts": {"$gte": n}}."""
    if filters is None:
        return None
    clauses = []
    if filters.sources:
        clauses.append({"source": {"$in": list(filters.sources)}})
    if filters.since:
        clauses.append({"published_ts": {"$gte": day_start(filters.since)}})
    if filters.until:
        clauses.append({"published_ts": {"$lte": day_start(filters.until)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def passes(chunk: Chunk, filters: Filters | None) -> bool:
    """The same test as `chroma_where`, on one chunk (an undated chunk fails a date filter)."""
    if filters is None:
        return True
    if filters.sources and chunk.source not in filters.sources:
        return False
    if (filters.since or filters.until) and chunk.published_ts is None:
        return False
    if filters.since and chunk.published_ts < day_start(filters.since):
        return False
    return not (filters.until and chunk.published_ts > day_start(filters.until))
