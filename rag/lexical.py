"""The lexical side of retrieval: BM25 over chunk texts, kept in segments like Lucene's.

A segment is an immutable run of chunks with their term postings. An ingest adds one
segment for the files it changed and marks the rows of their old versions deleted, so its
cost is the change, not the archive; small segments are merged as they pile up (each row is
rewritten O(log n) times over the archive's life). A reader that already holds a segment
keeps it across generations, so it too loads only what changed.

Scores are BM25 as bm25s computes them (Lucene's IDF, k1 1.5, b 0.75), worked out at query
time from term counts over the live rows, so deletions never skew them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as day_time
from functools import cached_property
from pathlib import Path

import numpy as np
import orjson

from index.types import Chunk
from rag.terms import VERSION as TERMS_VERSION
from rag.terms import terms
from rag.types import Filters

log = logging.getLogger(__name__)

K1, B = 1.5, 0.75  # BM25's usual constants (bm25s's and Lucene's defaults)
MERGE_RATIO = 2  # merge a segment into the one before while that one is at most twice it
SEGMENTS, GENERATIONS = "segments", "generations"
RECORDS, SOURCES, VOCABULARY = "records.json", "sources.json", "vocabulary.json"
ARRAYS = ("starts", "rows", "counts", "lengths")
LEGACY_DONE = "complete"  # in each folder of the one-index-per-generation layout
SETTLE_SECONDS = 60  # an unreferenced segment this new may be about to be referenced


class Segment:
    """Chunks and their postings, column-major: the rows holding term j are
    `rows[starts[j]:starts[j + 1]]`, each `counts` times. Saved segments load lazily: an
    ingest that only marks rows deleted reads the segment's small source map, not its
    texts."""

    def __init__(self, name: str, size: int, folder: Path | None = None, *,
                 chunks: list[Chunk] | None = None, vocabulary: list[str] | None = None,
                 arrays: dict[str, np.ndarray] | None = None) -> None:
        self.name, self.size, self.folder = name, size, folder
        if chunks is not None:
            self.__dict__["chunks"] = chunks
        if vocabulary is not None:
            self.__dict__["terms"] = vocabulary
        for key, value in (arrays or {}).items():
            self.__dict__[key] = value

    @classmethod
    def build(cls, chunks: list[Chunk]) -> Segment:
        tokens = [terms(c.text) for c in chunks]
        vocabulary = sorted({t for doc in tokens for t in doc})
        column = {term: j for j, term in enumerate(vocabulary)}
        term_ids = np.fromiter((column[t] for doc in tokens for t in doc), dtype=np.int64)
        doc_rows = np.repeat(np.arange(len(chunks), dtype=np.int64), [len(d) for d in tokens])
        # An empty chunk counts as one term long, as bm25s's placeholder token makes it.
        lengths = np.array([max(len(d), 1) for d in tokens], dtype=np.float32)
        return cls._from_postings(chunks, vocabulary, term_ids, doc_rows,
                                  np.ones(len(term_ids), np.float32), lengths)

    @classmethod
    def merge(cls, parts: list[tuple[Segment, np.ndarray]]) -> Segment:
        """One segment of the live rows (`live` is a mask over each part's rows)."""
        vocabulary = sorted({t for segment, _ in parts for t in segment.terms})
        column = {term: j for j, term in enumerate(vocabulary)}
        chunks, lengths, term_ids, doc_rows, counts = [], [], [], [], []
        offset = 0
        for segment, live in parts:
            chunks += [c for c, keep in zip(segment.chunks, live) if keep]
            lengths.append(np.asarray(segment.lengths)[live])
            new_row = np.cumsum(live) - 1 + offset
            columns = np.array([column[t] for t in segment.terms], dtype=np.int64)
            rows = np.asarray(segment.rows)
            kept = live[rows]
            term_ids.append(np.repeat(columns, np.diff(segment.starts))[kept])
            doc_rows.append(new_row[rows[kept]])
            counts.append(np.asarray(segment.counts)[kept])
            offset += int(live.sum())
        return cls._from_postings(chunks, vocabulary, *(np.concatenate(a) for a in
                                                        (term_ids, doc_rows, counts, lengths)))

    @classmethod
    def _from_postings(cls, chunks, vocabulary, term_ids, doc_rows, counts,
                       lengths) -> Segment:
        """From (term, row, count) triples, a pair repeated or not: sums each pair's
        counts, sorts the postings by term then row, and drops the terms left unused."""
        width = max(len(chunks), 1)
        keys, pair = np.unique(term_ids * width + doc_rows, return_inverse=True)
        summed = np.bincount(pair.ravel(), weights=counts, minlength=len(keys))
        posting_terms, rows = np.divmod(keys, width)
        used = np.unique(posting_terms)
        starts = np.append(np.searchsorted(posting_terms, used), len(posting_terms))
        arrays = {"starts": starts.astype(np.int64), "rows": rows.astype(np.int32),
                  "counts": summed.astype(np.float32), "lengths": lengths.astype(np.float32)}
        return cls(uuid.uuid4().hex[:16], len(chunks), chunks=chunks,
                   vocabulary=[vocabulary[j] for j in used], arrays=arrays)

    # Lazily loaded parts of a saved segment (np.load memory-maps the postings).
    @cached_property
    def chunks(self) -> list[Chunk]:
        records = orjson.loads((self.folder / RECORDS).read_bytes())  # 3x json's speed
        return [Chunk.from_record(i, text, meta) for i, text, meta in records]

    @cached_property
    def terms(self) -> list[str]:
        return json.loads((self.folder / VOCABULARY).read_text(encoding="utf-8"))

    @cached_property
    def column(self) -> dict[str, int]:
        return {term: j for j, term in enumerate(self.terms)}

    @cached_property
    def rows_of_source(self) -> dict[str, list[int]]:
        if self.folder is not None and "chunks" not in self.__dict__:
            return json.loads((self.folder / SOURCES).read_text(encoding="utf-8"))
        rows: dict[str, list[int]] = {}
        for row, chunk in enumerate(self.chunks):
            rows.setdefault(chunk.source, []).append(row)
        return rows

    @cached_property
    def published_ts(self) -> np.ndarray:
        """Each row's publication time; NaN when undated (a date filter leaves it out)."""
        return np.array([np.nan if c.published_ts is None else c.published_ts
                         for c in self.chunks], dtype=np.float64)

    def __getattr__(self, name: str):  # starts, rows, counts, lengths of a saved segment
        if name in ARRAYS and self.folder is not None:
            value = np.load(self.folder / f"{name}.npy", mmap_mode="r")
            self.__dict__[name] = value
            return value
        raise AttributeError(name)

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        j = self.column.get(term)
        if j is None:
            return None
        start, end = self.starts[j], self.starts[j + 1]
        return self.rows[start:end], self.counts[start:end]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True)
        records = [[c.id, c.text, c.metadata()] for c in self.chunks]
        (folder / RECORDS).write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
        (folder / VOCABULARY).write_text(json.dumps(self.terms, ensure_ascii=False),
                                         encoding="utf-8")
        (folder / SOURCES).write_text(json.dumps(self.rows_of_source, ensure_ascii=False),
                                      encoding="utf-8")
        for name in ARRAYS:
            np.save(folder / f"{name}.npy", np.asarray(getattr(self, name)))


@dataclass
class LexicalIndex:
    """The segments of one store generation, and which of their rows are deleted."""

    segments: list[Segment] = field(default_factory=list)
    deleted: dict[str, set[int]] = field(default_factory=dict)  # segment name -> rows

    @classmethod
    def build(cls, chunks: list[Chunk]) -> LexicalIndex:
        return cls([Segment.build(chunks)] if chunks else [])

    def live_rows(self, segment: Segment) -> np.ndarray:
        """A mask over the segment's rows (made once: the index never changes)."""
        if segment.name not in self._live_masks:
            live = np.ones(segment.size, dtype=bool)
            live[list(self.deleted.get(segment.name, ()))] = False
            self._live_masks[segment.name] = live
        return self._live_masks[segment.name]

    @cached_property
    def _live_masks(self) -> dict[str, np.ndarray]:
        return {}

    @cached_property
    def _offsets(self) -> list[int]:
        return np.cumsum([0] + [s.size for s in self.segments]).tolist()

    @cached_property
    def live(self) -> np.ndarray:
        """A mask over all rows, segment after segment."""
        if not self.segments:
            return np.zeros(0, dtype=bool)
        return np.concatenate([self.live_rows(s) for s in self.segments])

    @property
    def size(self) -> int:
        """Live rows: the store's chunk count when the index is current."""
        return sum(s.size - len(self.deleted.get(s.name, ())) for s in self.segments)

    @cached_property
    def chunks(self) -> list[Chunk]:
        """The live chunks."""
        return [c for c, keep in zip(self._all_chunks, self.live) if keep]

    def read(self) -> None:
        """Reads what searches need from every saved segment now, rather than lazily."""
        for segment in self.segments:  # (once opened, a mapped file outlives its unlink)
            segment.chunks, segment.column  # noqa: B018 (loads them)
            for name in ARRAYS:
                getattr(segment, name)

    @cached_property
    def _all_chunks(self) -> list[Chunk]:
        return [c for s in self.segments for c in s.chunks]

    @cached_property
    def articles(self) -> list[dict]:
        """One row per article (title, dates, outlet, byline, source, chunks), newest first
        and undated last: worked out once per generation, not per page load."""
        found: dict[str, dict] = {}
        for chunk in self.chunks:
            row = found.setdefault(chunk.article_id, {
                "title": chunk.title, "published": chunk.published,
                "date": chunk.published or chunk.date_text, "outlet": chunk.outlet,
                "byline": chunk.byline, "source": chunk.source, "chunks": 0})
            row["chunks"] += 1
        rows = sorted(found.values(), key=lambda row: row["source"])
        rows.sort(key=lambda row: row["published"] or "", reverse=True)  # stable; "" last
        return rows

    @cached_property
    def undated_articles(self) -> Counter:
        """Per source, its articles without a publication date (a date filter skips them)."""
        undated = {(c.source, c.article_id) for c in self.chunks if c.published_ts is None}
        return Counter(source for source, _ in undated)

    @cached_property
    def sources(self) -> frozenset[str]:
        return frozenset(c.source for c in self.chunks)

    @cached_property
    def by_id(self) -> dict[str, Chunk]:
        return {chunk.id: chunk for chunk in self.chunks}

    @cached_property
    def _average_length(self) -> float:
        total = sum(float(np.asarray(s.lengths)[self.live_rows(s)].sum()) for s in self.segments)
        return total / self.size if self.size else 1.0

    # Changes, as an ingest makes them.
    def changed(self, changes: dict[str, list[Chunk] | None]) -> LexicalIndex:
        """This index with the changed sources' rows deleted and their new chunks (None: the
        source is gone) added as a new segment; then small segments merged."""
        deleted = {name: set(rows) for name, rows in self.deleted.items()}
        for segment in self.segments:
            for source in changes.keys() & segment.rows_of_source.keys():
                deleted.setdefault(segment.name, set()).update(segment.rows_of_source[source])
        # In source order, so that every process deriving this change gets the same rows.
        added = [c for source in sorted(changes) for c in changes[source] or ()]
        segments = self.segments + ([Segment.build(added)] if added else [])
        return LexicalIndex(segments, deleted).compacted()

    def compacted(self) -> LexicalIndex:
        """Merges each segment into the one before it while that one holds at most
        MERGE_RATIO times its live rows, like a binary counter, so a one-file change
        merges only small segments; a segment left mostly deleted is rewritten alone."""
        kept: list[tuple[list[Segment], int, int]] = []  # (segments to merge, live, rows)
        for segment in self.segments:
            live = int(self.live_rows(segment).sum())
            if live:
                kept.append(([segment], live, segment.size))
            while len(kept) > 1 and kept[-2][1] <= MERGE_RATIO * kept[-1][1]:
                (a, live_a, rows_a), (b, live_b, rows_b) = kept.pop(-2), kept.pop()
                kept.append((a + b, live_a + live_b, rows_a + rows_b))
        segments, deleted = [], {}
        for group, live, rows in kept:
            if len(group) == 1 and 2 * live >= rows:
                segments.append(group[0])
                if group[0].name in self.deleted:
                    deleted[group[0].name] = self.deleted[group[0].name]
            else:  # merged, or one segment mostly deleted: rewritten with its live rows
                segments.append(Segment.merge([(s, self.live_rows(s)) for s in group]))
        return LexicalIndex(segments, deleted)

    # Queries.
    def mask(self, filters: Filters | None) -> np.ndarray | None:
        """Which rows a search may return (live, and passing `filters`, the same test as
        rag.retrieve.passes), as BM25 weights; None when every row may."""
        if filters is None:
            return None if self.live.all() else self.live.astype(np.float32)
        if not self.segments:
            return np.zeros(0, dtype=np.float32)
        keep = self.live.copy()
        if filters.sources:
            chosen = np.zeros_like(keep)
            for segment, offset in zip(self.segments, self._offsets):
                for source in set(filters.sources):
                    chosen[np.asarray(segment.rows_of_source.get(source, []), int) + offset] = True
            keep &= chosen
        if filters.since or filters.until:
            stamps = np.concatenate([s.published_ts for s in self.segments])
            with np.errstate(invalid="ignore"):  # NaN compares False: undated rows drop out
                if filters.since:
                    keep &= stamps >= day_start(filters.since)
                if filters.until:
                    keep &= stamps <= day_start(filters.until)
                keep &= ~np.isnan(stamps)
        return keep.astype(np.float32)

    def matching(self, filters: Filters, limit: int) -> list[Chunk] | None:
        """The live chunks that pass `filters`, when there are at most `limit` of them."""
        rows = np.flatnonzero(self.mask(filters))
        return None if len(rows) > limit else [self._all_chunks[i] for i in rows]

    def _postings(self, term: str) -> Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(rows over the whole index, counts, lengths) of the live rows holding `term`."""
        for segment, offset in zip(self.segments, self._offsets):
            found = segment.postings(term)
            if found is None:
                continue
            rows, counts = found
            if segment.name in self.deleted:
                live = self.live_rows(segment)[rows]
                rows, counts = rows[live], counts[live]
            yield rows + offset, counts, np.asarray(segment.lengths)[rows]

    def document_frequency(self, term: str) -> int:
        return sum(len(rows) for rows, _, _ in self._postings(term))

    def idf(self, term: str) -> float:
        """Smoothed IDF: positive, and highest for a term no chunk contains."""
        return math.log(1.0 + (self.size + 1) / (self.document_frequency(term) + 0.5))

    def scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 of every row for the query `tokens` (a repeated token counts again)."""
        scores = np.zeros(self._offsets[-1] if self.segments else 0, dtype=np.float32)
        for term in tokens:
            found = list(self._postings(term))
            frequency = sum(len(rows) for rows, _, _ in found)
            if not frequency:
                continue
            idf = math.log(1 + (self.size - frequency + 0.5) / (frequency + 0.5))
            for rows, counts, lengths in found:
                norm = K1 * ((1 - B) + B * lengths / self._average_length)
                scores[rows] += (idf * counts / (norm + counts)).astype(np.float32)
        return scores

    def search(self, query: str, k: int, filters: Filters | None) -> list[tuple[Chunk, float]]:
        tokens = terms(query)
        if not self.segments or not tokens:
            return []
        scores = self.scores(tokens)
        mask = self.mask(filters)
        if mask is not None:
            scores *= mask
        top = np.argsort(-scores, kind="stable")[:k]
        return [(self._all_chunks[i], float(scores[i])) for i in top if scores[i] > 0]


class SavedLexical:
    """Lexical indexes saved per store generation under `root`: a manifest per generation
    (`generations/<token>.json`: its segments and their deleted rows) over shared segment
    folders (`segments/<name>/`). Written by the ingest that made the generation (or by the
    first reader that needs it) and loaded, memory-mapped, by every process start and
    refresh. Segments loaded once stay with this object while they are in use. None: nowhere
    to save, build every time."""

    KEEP = 2  # generations kept: the current one, and the previous for readers mid-swap

    def __init__(self, root: Path | None) -> None:
        self.root = Path(root) if root else None
        self._held: dict[str, Segment] = {}

    def get(self, generation: str | None, chunks: Callable[[], list[Chunk]],
            derive: Callable[[], LexicalIndex | None] | None = None) -> LexicalIndex:
        """The generation's index: loaded when saved, else derived by `derive()` from one
        held (None: it cannot be), else built from `chunks()`; then saved."""
        index = self.load(generation)
        if index is None and derive is not None:
            index = derive()
            if index is not None:
                self.save(index, generation)
        try:
            if index is not None:
                index.read()  # a reader needs every chunk: read now, where damage is caught
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("the saved lexical index of generation %s is unreadable (%s): "
                        "rebuilding it", generation, error)
            index = None
        if index is None:
            index = LexicalIndex.build(chunks())
            self.save(index, generation)
        self._held = {s.name: s for s in index.segments}
        return index

    def load(self, generation: str | None) -> LexicalIndex | None:
        """The saved index of `generation`, or None (not saved, or unreadable)."""
        manifest = self._manifest(generation)
        if manifest is None or not manifest.is_file():
            return None
        try:
            saved = json.loads(manifest.read_text(encoding="utf-8"))
            if saved.get("terms") != TERMS_VERSION:  # words were split or stemmed otherwise
                return None
            entries = saved["segments"]
            segments, deleted = [], {}
            for entry in entries:
                name = entry["name"]
                folder = self.root / SEGMENTS / name
                if not (folder / "starts.npy").is_file():
                    raise FileNotFoundError(f"segment {name} is missing")
                segments.append(self._held.get(name) or Segment(name, entry["rows"], folder))
                if entry["deleted"]:
                    deleted[name] = set(entry["deleted"])
            return LexicalIndex(segments, deleted)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:  # damaged
            log.warning("the saved lexical index of generation %s is unreadable (%s): "
                        "rebuilding it", generation, error)
            return None

    def save(self, index: LexicalIndex, generation: str | None) -> None:
        """Saves `index` as `generation`'s: new segments first, then the manifest, atomically;
        failures only cost speed."""
        manifest = self._manifest(generation)
        if manifest is None:
            return
        try:
            for segment in index.segments:
                self._save_segment(segment)
            entries = [{"name": s.name, "rows": s.size,
                        "deleted": sorted(index.deleted.get(s.name, ()))}
                       for s in index.segments]
            manifest.parent.mkdir(parents=True, exist_ok=True)
            scratch = manifest.with_name(f".{manifest.name}-{uuid.uuid4().hex[:8]}")
            scratch.write_text(json.dumps({"terms": TERMS_VERSION, "segments": entries}),
                               encoding="utf-8")
            os.replace(scratch, manifest)
            self._prune(keep=manifest)
        except OSError as error:  # no space, or a read-only folder: readers build it
            log.info("lexical index for generation %s not saved (%s)", generation, error)

    def _save_segment(self, segment: Segment) -> None:
        folder = self.root / SEGMENTS / segment.name
        if segment.folder == folder and folder.is_dir():
            return
        scratch = folder.with_name(f".{segment.name}-{uuid.uuid4().hex[:8]}")
        try:
            segment.save(scratch)
            os.replace(scratch, folder)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        segment.folder = folder

    def _manifest(self, generation: str | None) -> Path | None:
        if self.root is None or not generation:
            return None
        return self.root / GENERATIONS / f"{generation}.json"

    def _prune(self, keep: Path) -> None:
        """Drops all but the KEEP newest manifests, then the segments none of them uses
        (but not one saved in the last minute: its manifest may be on its way), and the
        folders of the earlier one-index-per-generation layout."""
        manifests = sorted((p for p in keep.parent.glob("*.json") if p != keep),
                           key=lambda p: p.stat().st_mtime)
        for old in manifests[:max(0, len(manifests) - (self.KEEP - 1))]:
            old.unlink(missing_ok=True)
        used = set()
        for manifest in keep.parent.glob("*.json"):
            try:
                used |= {e["name"] for e in json.loads(manifest.read_text())["segments"]}
            except (OSError, ValueError, KeyError):
                continue
        settled = time.time() - SETTLE_SECONDS
        segments = self.root / SEGMENTS
        for folder in segments.iterdir() if segments.is_dir() else ():
            name = folder.name.lstrip(".").split("-")[0]
            try:
                if name not in used and folder.stat().st_mtime < settled:
                    shutil.rmtree(folder, ignore_errors=True)
            except FileNotFoundError:  # another process pruned it first
                continue
        for legacy in self.root.iterdir():  # the earlier layout marked each one "complete"
            if legacy.is_dir() and (legacy / LEGACY_DONE).is_file():
                shutil.rmtree(legacy, ignore_errors=True)


def day_start(day: date) -> int:
    """Epoch seconds of UTC midnight, the same convention as Chunk.published_ts."""
    return int(datetime.combine(day, day_time(0), tzinfo=UTC).timestamp())
