"""The Chroma store: chunk vectors in a cosine-space collection, plus a per-file manifest.

The chunk collection records which embedder built it (name, dimension); the manifest
collection ("<collection>-files") maps each source file to the fingerprint of the content
that was fully stored, so ingest can tell unchanged, changed and removed files apart.
Embedded (`PersistentClient` at NEWSQA_STORE_DIR) or a server (`HttpClient`, NEWSQA_CHROMA_HOST).

The store publishes a generation in "<collection>-state": a new token, and the name of the
active chunk collection, after every ingest that changed something. A reader that sees
another token reopens its client, since an embedded client that stays open does not see
another process's deletes. A rebuild fills a new collection and becomes active only when
it is complete, so readers never see a half-built index.
"""

from __future__ import annotations

import errno
import json
import logging
import re
import shutil
import time
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index.types import Chunk
from rag.errors import (
    EmbedderMismatchError,
    IndexMissingError,
    NewsqaError,
    StoreChangedError,
    StoreError,
)

if TYPE_CHECKING:
    from index.embedder import Embedder
    from rag.config import Settings

log = logging.getLogger(__name__)

BATCH = 100  # records per Chroma write (Chroma suggests 50-250)
PAGE = 10_000  # records per Chroma read: fewer, larger pages (each one rescans its offset;
# 75k manifest records read in 14 s in pages of 1,000, 7 s in pages of 10,000), and under
# SQLite's 32,766 variables
SCHEMA = 1  # bump when chunk ids or metadata change meaning
GENERATION = "generation"  # the record id of the published generation
MAX_LISTED = 1000  # changed sources a generation lists for readers; past that, they rebuild


def connect(settings: Settings):
    """A Chroma client: HTTP when NEWSQA_CHROMA_HOST is set, else embedded at the store dir."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
        try:
            client = chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port,
                                         settings=chroma_settings)
            client.heartbeat()
            return client
        except Exception as error:  # chromadb raises bare Exception/ValueError/httpx errors
            raise StoreError(
                f"cannot reach the Chroma server at {settings.chroma_host}:{settings.chroma_port}"
                f" ({error}); start one with `chroma run --path .store --host "
                f"{settings.chroma_host} --port {settings.chroma_port}` or unset "
                "NEWSQA_CHROMA_HOST to use the local store") from error
    path = Path(settings.store_dir)
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


LOW_SPACE = 64 * 2**20  # bytes free under which a failed write is put down to a full disk


def disk_of(settings: Settings) -> Path | None:
    """The folder of an embedded store (None for a Chroma server)."""
    return None if settings.chroma_host else Path(settings.store_dir)


@contextmanager
def failures(disk: Path | None):
    """Chroma's and the file system's errors as a StoreError that says what to do; a full
    disk is named as such (Chroma's own message does not say so)."""
    import httpx
    from chromadb.errors import ChromaError, NotFoundError

    try:
        yield
    except (NewsqaError, NotFoundError):
        raise
    except (ChromaError, OSError, httpx.HTTPError) as error:
        raise StoreError(explain(error, disk)) from error


def explain(error: Exception, disk: Path | None) -> str:
    free = shutil.disk_usage(disk).free if disk is not None and disk.exists() else None
    full = (getattr(error, "errno", None) == errno.ENOSPC or "disk is full" in str(error).lower()
            or (free is not None and free < LOW_SPACE))
    if full:
        room = f" ({free / 2**20:.1f} MB free)" if free is not None else ""
        return (f"the disk holding the index ({disk}) is full{room}: free some space, then "
                "run `newsqa ingest` again. Nothing indexed is lost: files whose chunks were "
                "all stored are kept, and the ingest resumes with the rest.")
    if disk is None:
        return (f"the Chroma server failed or did not answer ({type(error).__name__}: {error}): "
                "is it still running? Start it again with `chroma run`, or unset "
                "NEWSQA_CHROMA_HOST to use the local store")
    return (f"the index at {disk} failed ({type(error).__name__}: {error}); run `newsqa "
            "ingest` again, or `newsqa ingest --rebuild` if it keeps failing")


def new_generation() -> str:
    return uuid.uuid4().hex


def lexical_root(settings: Settings) -> Path:
    """Where the lexical indexes of this store's generations are saved: beside an embedded
    store, or in the cache for a Chroma server (each reading machine keeps its own)."""
    if settings.chroma_host:
        name = f"{settings.chroma_host}-{settings.chroma_port}-{settings.collection}"
        return Path(settings.cache_dir) / "lexical" / name
    return Path(settings.store_dir) / "lexical"


def location(settings: Settings) -> str:
    if settings.chroma_host:
        return f"http://{settings.chroma_host}:{settings.chroma_port}"
    return str(Path(settings.store_dir).resolve())


def open_store(settings: Settings, embedder: Embedder, *, create: bool = False) -> Store:
    """The active index, built by `embedder`. Raises IndexMissingError (no index and
    create=False) or EmbedderMismatchError (the index was built by another embedder)."""
    client = connect(settings)
    with failures(disk_of(settings)):
        state = _state(client, settings)
        return _open(client, state, _active_name(state, settings), embedder, create, settings)


def open_rebuild(settings: Settings, embedder: Embedder) -> Store:
    """An empty index under a new name, for `newsqa ingest --rebuild`: readers keep the
    active one until `Store.publish()` makes this one active (and drops the old one), so a
    rebuild that fails or is killed half-way loses nothing. Leftovers of such runs go now."""
    client = connect(settings)
    with failures(disk_of(settings)):
        state = _state(client, settings)
        keep = _active_name(state, settings)
        for name in _build_names(client, settings):
            if name != keep:
                _drop(client, name)
        name = f"{settings.collection}-r{uuid.uuid4().hex[:8]}"
        return _open(client, state, name, embedder, True, settings)


def _open(client, state, name: str, embedder: Embedder, create: bool,
          settings: Settings) -> Store:
    chunks = _get_collection(client, name)
    if chunks is None:
        if not create:
            raise IndexMissingError(f"no index at {location(settings)}: run `newsqa ingest`")
        chunks = client.create_collection(
            name, configuration={"hnsw": {"space": "cosine"}},
            metadata=_signature(embedder), embedding_function=None)
    _check_signature(chunks.metadata or {}, embedder)
    files = client.get_or_create_collection(f"{name}-files", embedding_function=None)
    return Store(client, chunks, files, state, disk_of(settings))


def _state(client, settings: Settings):
    return client.get_or_create_collection(f"{settings.collection}-state",
                                           embedding_function=None)


def _published(state) -> dict:
    found = state.get(ids=[GENERATION], include=["metadatas"])
    return found["metadatas"][0] if found["ids"] else {}


def _active_name(state, settings: Settings) -> str:
    return _published(state).get("collection") or settings.collection


def _build_names(client, settings: Settings) -> list[str]:
    """Every chunk collection of this index: the first one and those of rebuilds."""
    build = re.compile(re.escape(settings.collection) + r"(-r[0-9a-f]{8})?")
    return [c.name for c in client.list_collections() if build.fullmatch(c.name)]


def _drop(client, name: str) -> None:
    for doomed in (name, f"{name}-files"):
        if _get_collection(client, doomed) is not None:
            client.delete_collection(doomed)


def _get_collection(client, name: str):
    from chromadb.errors import NotFoundError

    try:
        return client.get_collection(name, embedding_function=None)
    except NotFoundError:
        return None


def _signature(embedder: Embedder) -> dict:
    return {"embedder": embedder.name, "dimension": int(embedder.dimension), "schema": SCHEMA}


def _check_signature(meta: dict, embedder: Embedder) -> None:
    built_by = (meta.get("embedder"), meta.get("dimension"), meta.get("schema"))
    wanted = tuple(_signature(embedder).values())
    if built_by != wanted:
        raise EmbedderMismatchError(
            f"the index was built by embedder {built_by[0]!r} (dimension {built_by[1]}, schema "
            f"{built_by[2]}) but {wanted[0]!r} (dimension {wanted[1]}, schema {wanted[2]}) is "
            "configured: run `newsqa ingest --rebuild` (or configure the embedder it was built with)")


class Store:
    """Chunks with their vectors and metadata; ids are the chunk ids."""

    def __init__(self, client, chunks, files, state=None, disk: Path | None = None) -> None:
        self.client = client
        self.disk = disk  # where an embedded store writes (for a full disk's message)
        self.default_name = state.name.removesuffix("-state") if state is not None else None
        self.collection = chunks
        self.files = files
        self.state = state
        self.changed = False  # written to since opened: publish() when done

    def count(self) -> int:
        with failures(self.disk):
            return self.collection.count()

    def generation(self) -> str | None:
        """The token of the latest published change (None before the first): one small
        read, fresh even through an embedded client that holds stale vectors."""
        with failures(self.disk):
            return _published(self.state).get("token")

    def change(self) -> tuple[str | None, list[str] | None]:
        """What the latest generation changed: (the generation it follows, the sources it
        changed), or (None, None) when it does not say (a rebuild, a failed run, a change
        of more than MAX_LISTED files). A reader holding the generation it follows needs
        only those sources' chunks."""
        with failures(self.disk):
            published = _published(self.state)
        if not published.get("changed"):
            return None, None
        return published["follows"], json.loads(published["changed"])

    def interrupted(self) -> bool:
        """Whether a run wrote to the store and never published (it was killed), or is
        writing now: the published generation then does not say everything stored."""
        with failures(self.disk):
            return bool(_published(self.state).get("writing"))

    def _about_to_write(self) -> None:
        """The first write since opened marks the state "writing" until publish(): a run
        killed in between leaves the mark for the next one to see."""
        if not self.changed:
            published = _published(self.state)
            self.state.upsert(ids=[GENERATION], embeddings=[[1.0]],
                              metadatas=[published | {"writing": "yes"}])
        self.changed = True

    def publish(self, token: str | None = None, follows: str | None = None,
                changed: Collection[str] | None = None) -> None:
        """Tells readers in other processes that the store changed (as generation `token`,
        a new one by default), and makes this collection the active one (a rebuild's old
        collection is dropped after that). `changed`: the sources changed since generation
        `follows`, for readers to follow at the cost of the change."""
        with failures(self.disk):
            previous = _published(self.state).get("collection")
            listed = follows and changed is not None and len(changed) <= MAX_LISTED
            # Both keys always written: an upsert merges metadata, so an old list would stay.
            self.state.upsert(ids=[GENERATION], embeddings=[[1.0]], metadatas=[{
                "token": token or new_generation(), "collection": self.collection.name,
                "at": time.time(), "follows": follows if listed else "",
                "changed": json.dumps(sorted(changed)) if listed else "", "writing": ""}])
            self.changed = False
            if previous and previous != self.collection.name:
                _drop(self.client, previous)
            elif not previous and self.collection.name != self.default_name:
                _drop(self.client, self.default_name)  # the first index, before generations

    def close(self) -> None:
        """Lets go of the client (the next open_store of this path starts afresh)."""
        self.client.close()

    def upsert(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        with failures(self.disk):
            self._about_to_write()
            for first in range(0, len(chunks), BATCH):
                batch = chunks[first:first + BATCH]
                self.collection.upsert(
                    ids=[c.id for c in batch], documents=[c.text for c in batch],
                    metadatas=[c.metadata() for c in batch],
                    embeddings=np.asarray(vectors[first:first + BATCH], dtype=np.float32))

    def update_metadata(self, chunks: list[Chunk]) -> None:
        """New offsets/metadata for chunks whose text (and so vector) is unchanged."""
        with failures(self.disk):
            self._about_to_write()
            for first in range(0, len(chunks), BATCH):
                batch = chunks[first:first + BATCH]
                self.collection.update(ids=[c.id for c in batch],
                                       metadatas=[c.metadata() for c in batch])

    def delete(self, ids: Sequence[str]) -> None:
        self._delete(self.collection, ids)

    def _delete(self, collection, ids: Sequence[str]) -> None:
        """Deletes these records of `collection` (chunks, or manifest entries), BATCH at a time."""
        with failures(self.disk):
            ids = list(ids)
            if ids:
                self._about_to_write()
            for first in range(0, len(ids), BATCH):
                collection.delete(ids=ids[first:first + BATCH])

    def get(self, ids: Sequence[str]) -> list[Chunk]:
        if not ids:
            return []
        with failures(self.disk):
            found = self.collection.get(ids=list(ids), include=["documents", "metadatas"])
        return _chunks(found)

    def ids_by_source(self) -> dict[str, set[str]]:
        by_source: dict[str, set[str]] = defaultdict(set)
        for page in self._pages(["metadatas"]):
            for chunk_id, meta in zip(page["ids"], page["metadatas"]):
                by_source[meta["source"]].add(chunk_id)
        return dict(by_source)

    def all_chunks(self) -> list[Chunk]:
        return [chunk for page in self._pages(["documents", "metadatas"])
                for chunk in _chunks(page)]

    def _pages(self, include: list[str], collection=None) -> Iterator[dict]:
        """Every record of the chunk collection (or `collection`), PAGE at a time: one read
        of them all fails past about 32k records ("too many SQL variables")."""
        collection = collection if collection is not None else self.collection
        offset = 0
        while True:
            with failures(self.disk):
                page = collection.get(include=include, limit=PAGE, offset=offset)
            if not page["ids"]:
                return
            yield page
            offset += len(page["ids"])

    def query(self, vector: np.ndarray, k: int,
              where: dict | None = None) -> list[tuple[Chunk, float]]:
        """The k chunks nearest to `vector`, as (chunk, cosine similarity), best first."""
        found = self._nearest(vector, k, where, ["documents", "metadatas", "distances"])
        page = {key: found[key][0] for key in ("ids", "documents", "metadatas")}
        return list(zip(_chunks(page), (1.0 - d for d in found["distances"][0])))

    def all_vectors(self) -> tuple[list[str], np.ndarray]:
        """Every chunk's id and vector, in the collection's order."""
        ids, vectors = [], []
        for page in self._pages(["embeddings"]):
            ids += page["ids"]
            vectors.append(np.asarray(page["embeddings"], dtype=np.float32))
        return ids, (np.vstack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32))

    def nearest_among(self, vector: np.ndarray, k: int,
                      ids: Sequence[str]) -> list[tuple[str, float]]:
        """Like nearest_ids(), exactly, over the given chunks only: their vectors fetched
        by id and compared in numpy. For a few ids this costs far less than a filtered
        search (Chroma's `where` scans metadata, and grows with the collection)."""
        if not ids:
            return []
        with failures(self.disk):
            found = self.collection.get(ids=list(ids), include=["embeddings"])
        if not len(found["ids"]):
            return []
        vectors = np.asarray(found["embeddings"], dtype=np.float32)
        query = np.asarray(vector, dtype=np.float32)
        similarity = vectors @ query / np.maximum(
            np.linalg.norm(vectors, axis=1) * np.linalg.norm(query), 1e-12)
        best = np.argsort(-similarity, kind="stable")[:k]
        return [(found["ids"][i], float(similarity[i])) for i in best]

    def nearest_ids(self, vector: np.ndarray, k: int,
                    where: dict | None = None) -> list[tuple[str, float]]:
        """Like query(), as (chunk id, cosine similarity) only: for callers that already
        hold the chunks, it skips fetching texts and metadata (most of a query's cost)."""
        found = self._nearest(vector, k, where, ["distances"])
        return [(i, 1.0 - d) for i, d in zip(found["ids"][0], found["distances"][0])]

    def _nearest(self, vector: np.ndarray, k: int, where: dict | None, include: list[str]):
        from chromadb.errors import InternalError, NotFoundError

        # Chroma returns fewer than k results when it holds fewer (no count() round trip).
        with failures(self.disk):
            try:
                return self.collection.query(
                    query_embeddings=np.asarray(vector, dtype=np.float32).reshape(1, -1),
                    n_results=k, where=where or None, include=include)
            except (NotFoundError, InternalError) as error:
                # NotFound: the collection was dropped; Internal: its segments changed on
                # disk under this client ("Error creating hnsw segment reader")
                raise StoreChangedError(f"the index changed under this client ({error}): "
                                        "reopen the store") from error

    # -- the per-file manifest: written only after all of a file's chunks are stored --

    def manifest(self) -> dict[str, str]:
        """source -> fingerprint of the file content whose chunks are all stored."""
        return {source: entry["fingerprint"] for source, entry in self.manifest_entries().items()}

    def manifest_entries(self) -> dict[str, dict]:
        """source -> what was recorded with its fingerprint: the file's size, mtime_ns and
        chunk count, and when (`at`), for entries written since they were recorded."""
        return {source: meta for page in self._pages(["metadatas"], self.files)
                for source, meta in zip(page["ids"], page["metadatas"], strict=True)}

    def record_files(self, entries: dict[str, dict | str]) -> None:
        """Marks files done: source -> its fingerprint, or a dict of it and its stat."""
        with failures(self.disk):
            items = [(s, e if isinstance(e, dict) else {"fingerprint": e})
                     for s, e in entries.items()]
            if items:
                self._about_to_write()
            for first in range(0, len(items), BATCH):
                batch = items[first:first + BATCH]
                self.files.upsert(ids=[s for s, _ in batch], embeddings=[[1.0]] * len(batch),
                                  metadatas=[e for _, e in batch])

    def chunks_of(self, sources: Sequence[str]) -> dict[str, list[Chunk]]:
        """The stored chunks of these sources (a source with none is left out)."""
        found: dict[str, list[Chunk]] = defaultdict(list)
        for first in range(0, len(sources), BATCH):
            where = {"source": {"$in": list(sources[first:first + BATCH])}}
            with failures(self.disk):
                page = self.collection.get(where=where, include=["documents", "metadatas"])
            for chunk in _chunks(page):
                found[chunk.source].append(chunk)
        return dict(found)

    def ids_of(self, source: str) -> set[str]:
        """The ids of one file's chunks."""
        with failures(self.disk):
            return set(self.collection.get(where={"source": source}, include=[])["ids"])

    def forget_files(self, sources: Sequence[str]) -> None:
        self._delete(self.files, sources)

    def as_vector_store(self):
        """This collection as a LlamaIndex ChromaVectorStore, for LlamaIndex retrievers.
        Its nodes carry our metadata; note it reports exp(-distance), not cosine."""
        from llama_index.vector_stores.chroma import ChromaVectorStore

        return ChromaVectorStore(chroma_collection=self.collection)


def _chunks(page: dict) -> list[Chunk]:
    """The page's records as chunks; a record without metadata is one another process
    deleted after this client read its vector index, and is left out."""
    return [Chunk.from_record(i, doc, meta)
            for i, doc, meta in zip(page["ids"], page["documents"], page["metadatas"])
            if meta is not None and doc is not None]


def to_text_node(chunk: Chunk):
    """A LlamaIndex TextNode that keeps the chunk id and its file offsets."""
    from llama_index.core.schema import TextNode

    return TextNode(id_=chunk.id, text=chunk.text, metadata=chunk.metadata(),
                    start_char_idx=chunk.start, end_char_idx=chunk.end)


def describe(settings: Settings) -> dict:
    """What `newsqa stats` shows: counts, embedder, newest date, store location."""
    client = connect(settings)
    try:
        with failures(disk_of(settings)):
            name = _active_name(_state(client, settings), settings)
            collection = _get_collection(client, name)
            if collection is None:
                raise IndexMissingError(f"no index at {location(settings)}: run `newsqa ingest`")
            metas = [m for page in Store(client, collection, None)._pages(["metadatas"])
                     for m in page["metadatas"]]
    finally:
        client.close()  # an open client in this process would pin a stale view for others
    dates = [m["published"] for m in metas if m.get("published")]
    meta = collection.metadata or {}
    return {
        "articles": len({m["article_id"] for m in metas}),
        "chunks": len(metas),
        "files": len({m["source"] for m in metas}),
        "newest": max(dates) if dates else None,
        "embedder": f"{meta.get('embedder')} ({meta.get('dimension')}-d)",
        "store": location(settings),
        "collection": name,
    }
