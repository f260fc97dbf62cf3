"""Hybrid retrieval: dense (Chroma) and BM25 (bm25s over the same chunk texts), fused by RRF.

LlamaIndex's BM25Retriever cannot see chunks that live only in Chroma, so the lexical side
is built here from `store.all_chunks()`, once per store generation, and saved beside the
store (`SavedLexical`) for every later process start to load. Filters apply to both sides
alike.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import cached_property
from pathlib import Path
from time import monotonic
from typing import TYPE_CHECKING

import bm25s
import numpy as np

from index.types import Chunk
from rag.errors import IndexMissingError, StoreChangedError, StoreError
from rag.terms import terms
from rag.types import Filters

if TYPE_CHECKING:
    from index.store import Store

log = logging.getLogger(__name__)

# bm25s logs each index build at DEBUG/INFO; that is noise for a per-process rebuild.
logging.getLogger("bm25s").setLevel(logging.WARNING)

RRF_K = 60  # the constant from Cormack et al. (2009); damps the weight of top ranks
POOL_FACTOR = 4  # each side proposes this many times top_k candidates to the fusion
REFRESH_SECONDS = 1.0  # how often to look whether another process published a change
CHUNKS_FILE, FREQUENCY_FILE, DONE_FILE = "chunks.json", "frequency.json", "complete"


@dataclass
class Hit:
    chunk: Chunk
    score: float  # fused RRF score
    dense: float = 0.0  # cosine similarity of chunk and query (0 when dense missed it)
    lexical: float = 0.0  # BM25 score (0 when BM25 missed it)


@dataclass
class Retrieval:
    hits: list[Hit]
    query_vector: np.ndarray  # reused by the extractive answerer
    query: str = ""


@dataclass
class LexicalIndex:
    """BM25 over chunk texts, plus the chunk list its rows refer to."""

    chunks: list[Chunk]
    bm25: bm25s.BM25 | None = field(default=None, repr=False)
    document_frequency: Counter = field(default_factory=Counter, repr=False)

    @classmethod
    def build(cls, chunks: list[Chunk]) -> LexicalIndex:
        if not chunks:
            return cls(chunks=[])
        tokens = [terms(c.text) for c in chunks]
        bm25 = bm25s.BM25()
        # An empty token list would break bm25s; a placeholder keeps row numbers aligned.
        bm25.index([t or ["\x00"] for t in tokens], show_progress=False)
        frequency = Counter(term for t in tokens for term in set(t))
        return cls(chunks=chunks, bm25=bm25, document_frequency=frequency)

    def save(self, folder: Path) -> None:
        """Writes the index to `folder`: bm25s's arrays (memory-mapped when loaded), the
        chunks its rows refer to, and the document frequencies."""
        folder.mkdir(parents=True, exist_ok=True)
        if self.bm25 is not None:
            self.bm25.save(str(folder), show_progress=False)
        records = [[c.id, c.text, c.metadata()] for c in self.chunks]
        (folder / CHUNKS_FILE).write_text(json.dumps(records, ensure_ascii=False),
                                          encoding="utf-8")
        (folder / FREQUENCY_FILE).write_text(json.dumps(self.document_frequency),
                                             encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        records = json.loads((folder / CHUNKS_FILE).read_text(encoding="utf-8"))
        chunks = [Chunk.from_record(i, text, meta) for i, text, meta in records]
        bm25 = (bm25s.BM25.load(str(folder), mmap=True, show_progress=False)
                if chunks else None)
        frequency = Counter(json.loads((folder / FREQUENCY_FILE).read_text(encoding="utf-8")))
        return cls(chunks=chunks, bm25=bm25, document_frequency=frequency)

    @cached_property
    def by_id(self) -> dict[str, Chunk]:
        return {chunk.id: chunk for chunk in self.chunks}

    @cached_property
    def _rows_of_source(self) -> dict[str, np.ndarray]:
        rows: dict[str, list[int]] = {}
        for row, chunk in enumerate(self.chunks):
            rows.setdefault(chunk.source, []).append(row)
        return {source: np.array(found) for source, found in rows.items()}

    @cached_property
    def _published_ts(self) -> np.ndarray:
        """Each row's publication time; NaN when undated (a date filter leaves it out)."""
        return np.array([np.nan if c.published_ts is None else c.published_ts
                         for c in self.chunks], dtype=np.float64)

    def mask(self, filters: Filters | None) -> np.ndarray | None:
        """BM25's weight mask for `filters` (the same test as `passes`), from arrays built
        once per index: a source filter touches only its sources' rows."""
        if filters is None:
            return None
        keep = np.ones(len(self.chunks), dtype=bool)
        if filters.sources:
            keep[:] = False
            for source in set(filters.sources):
                keep[self._rows_of_source.get(source, [])] = True
        if filters.since or filters.until:
            stamps = self._published_ts
            with np.errstate(invalid="ignore"):  # NaN compares False: undated rows drop out
                if filters.since:
                    keep &= stamps >= day_start(filters.since)
                if filters.until:
                    keep &= stamps <= day_start(filters.until)
                keep &= ~np.isnan(stamps)
        return keep.astype(np.float32)

    def idf(self, term: str) -> float:
        """Smoothed IDF: positive, and highest for a term no chunk contains."""
        documents = len(self.chunks)
        return math.log(1.0 + (documents + 1) / (self.document_frequency[term] + 0.5))

    def search(self, query: str, k: int, filters: Filters | None) -> list[tuple[Chunk, float]]:
        tokens = terms(query)
        if self.bm25 is None or not tokens:
            return []
        mask = self.mask(filters)
        scores = self.bm25.get_scores(tokens, weight_mask=mask)
        top = np.argsort(-scores, kind="stable")[:k]
        return [(self.chunks[i], float(scores[i])) for i in top if scores[i] > 0]


class SavedLexical:
    """Lexical indexes saved per store generation under `root`: built once per change to
    the store (by the ingest that made it, or by the first reader that needs it) and then
    loaded, memory-mapped, by every process start and refresh, instead of read back out of
    Chroma and rebuilt each time. None: nowhere to save, build every time."""

    KEEP = 2  # generations kept: the current one, and the previous for readers mid-swap

    def __init__(self, root: Path | None) -> None:
        self.root = Path(root) if root else None

    def get(self, generation: str | None, chunks: Callable[[], list[Chunk]]) -> LexicalIndex:
        folder = self._folder(generation)
        if folder is not None and (folder / DONE_FILE).is_file():
            try:
                return LexicalIndex.load(folder)
            except (OSError, ValueError, KeyError) as error:  # damaged: build it again
                log.warning("the saved lexical index %s is unreadable (%s): rebuilding it",
                            folder, error)
        index = LexicalIndex.build(chunks())
        self.save(index, generation)
        return index

    def save(self, index: LexicalIndex, generation: str | None) -> None:
        """Saves `index` as `generation`'s, whole or not at all; failures only cost speed."""
        folder = self._folder(generation)
        if folder is None or (folder / DONE_FILE).is_file():
            return
        scratch = folder.with_name(f".{folder.name}-{uuid.uuid4().hex[:8]}")
        try:
            index.save(scratch)
            (scratch / DONE_FILE).touch()
            os.replace(scratch, folder)
            self._prune(keep=folder)
        except OSError as error:  # another process saved it first, or no space: fine
            log.info("lexical index for generation %s not saved (%s)", generation, error)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _folder(self, generation: str | None) -> Path | None:
        if self.root is None or not generation:
            return None
        return self.root / generation

    def _prune(self, keep: Path) -> None:
        saved = sorted((p for p in self.root.iterdir() if p.is_dir() and p != keep
                        and not p.name.startswith(".")), key=lambda p: p.stat().st_mtime)
        for old in saved[:max(0, len(saved) - (self.KEEP - 1))]:
            shutil.rmtree(old, ignore_errors=True)


class HybridRetriever:
    """Dense + BM25 retrieval over one store; follows the changes other processes make.

    `reopen` opens the store afresh. When the store's published generation moves (an
    ingest or a rebuild elsewhere), the retriever closes its client, reopens it and
    rebuilds the lexical side; requests meanwhile are served from what it held."""

    def __init__(self, store, embedder, reopen: Callable[[], Store] | None = None,
                 saved: SavedLexical | None = None) -> None:
        self.store: Store | None = store
        self.embedder = embedder
        self._reopen = reopen
        self._saved = saved or SavedLexical(None)
        self._lock = threading.Lock()  # store calls and the swap of the store
        self._generation = store.generation()
        self.lexical = self._saved.get(self._generation, store.all_chunks)
        self._checked = monotonic()

    def refresh(self, force: bool = False) -> None:
        """Reopen the store and rebuild BM25 when another process published a change.
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
        self._generation = self.store.generation()
        self.lexical = self._saved.get(self._generation, self.store.all_chunks)

    def retrieve(self, query: str, top_k: int, filters: Filters | None = None) -> Retrieval:
        vector = self.embedder.embed([query])[0]
        pool = max(top_k * POOL_FACTOR, 20)
        dense = self.dense(vector, pool, filters)
        lexical = self.lexical.search(query, pool, filters)
        return Retrieval(hits=fuse(dense, lexical, top_k), query_vector=vector, query=query)

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
        where = chroma_where(filters)
        nearest = self.store.nearest_ids(vector, k, where=where)
        held = self.lexical.by_id
        if all(chunk_id in held for chunk_id, _ in nearest):
            return [(held[chunk_id], similarity) for chunk_id, similarity in nearest]
        return self.store.query(vector, k, where=where)  # the store changed under us


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


def day_start(day: date) -> int:
    """Epoch seconds of UTC midnight, the same convention as Chunk.published_ts."""
    return int(datetime.combine(day, time(0), tzinfo=UTC).timestamp())
