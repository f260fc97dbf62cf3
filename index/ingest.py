"""Bring the index up to date with the corpus: idempotent, incremental, safe to interrupt.

Unchanged files (same fingerprint in the manifest) cost nothing; a changed file gets
exactly its new chunks embedded and its stale ones deleted; removed files lose theirs.
A file's manifest entry is written only after all its chunks are stored, so a run that is
killed mid-way is completed by the next one (ids are stable, writes are upserts).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from index.chunker import chunk_article
from index.embedder import Embedder, load_tokenizer, make_embedder
from index.lock import ingest_lock
from index.reader import SUPPORTED, read_file, source_name
from index.store import Store, lexical_root, new_generation, open_rebuild, open_store
from index.types import Chunk, Problem
from rag.config import Settings
from rag.errors import ConfigError, IndexMissingError, StoreError

log = logging.getLogger(__name__)

READER_VERSION = 3  # bump when reading/chunking changes, so every file is chunked again
RACY_SECONDS = 2.0  # a file modified this close to its record is read again (mtime ticks)
FLUSH_BATCHES = 4  # embed_batch-sized groups embedded and stored together (across files):
# enough to sort by length and fill Chroma writes; few enough for a smooth progress bar


@dataclass
class IngestReport:
    files: int = 0
    files_changed: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    articles: int = 0  # articles in the files read this run
    chunks_added: int = 0
    chunks_updated: int = 0  # same text, new offsets or metadata (no re-embedding)
    chunks_removed: int = 0
    chunks_unchanged: int = 0
    skipped: list[Problem] = field(default_factory=list)  # files or lines left out
    notes: list[Problem] = field(default_factory=list)  # read, but with a caveat
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [
            (f"files: {self.files} ({self.files_changed} new or changed, {self.files_unchanged} "
            f"unchanged, {self.files_removed} removed, {len(self.skipped)} skipped)"),
            f"articles read: {self.articles}",
            (f"chunks: {self.chunks_added} added, {self.chunks_updated} updated, "
            f"{self.chunks_removed} removed, {self.chunks_unchanged} unchanged"),
        ]
        lines += [f"skipped {problem}" for problem in self.skipped]
        lines += [f"note: {problem}" for problem in self.notes]
        lines.append(f"took {self.seconds:.1f} s")
        return "\n".join(lines)


def recipe(settings: Settings) -> str:
    """How chunks are made from a file: the reader version and the chunking settings."""
    return f"v{READER_VERSION}:{settings.chunk_tokens}:{settings.chunk_overlap}"


def fingerprint(data: bytes, settings: Settings) -> str:
    """Identifies what a file's chunks were built from: its bytes and the chunking."""
    return f"{hashlib.sha256(data).hexdigest()}:{recipe(settings)}"


def collect_files(paths: list[Path], problems: list[Problem] | None = None) -> list[Path]:
    """Supported files under the given files/dirs, resolved and sorted; hidden files and
    folders left out. A link that leads out of its folder is not followed (it could expose
    any file the user can read): it goes into `problems`; so does a broken one."""
    found: set[Path] = set()
    for path in map(Path, paths):
        if path.is_dir():
            root = path.resolve()
            _walk(root, root, found, [] if problems is None else problems)
        elif path.is_file():
            found.add(path.resolve())
    return sorted(found)


def _walk(folder: Path, root: Path, found: set[Path], problems: list[Problem]) -> None:
    """One folder of collect_files. scandir's entries carry their type, so a file costs no
    stat of its own (a no-op ingest of a big archive is mostly this walk); a linked folder
    is not entered."""
    try:
        with os.scandir(folder) as listing:
            entries = list(listing)
    except OSError as error:  # unreadable, or gone mid-walk: its files are not read
        problems.append(Problem(folder.relative_to(root).as_posix() or ".",
                                f"folder cannot be read ({error.strerror or error}): skipped"))
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = folder / entry.name
        if entry.is_dir(follow_symlinks=False):
            _walk(path, root, found, problems)
        elif Path(entry.name).suffix.lower() not in SUPPORTED:
            continue
        elif not entry.is_symlink():
            if entry.is_file(follow_symlinks=False):
                found.add(path)
        elif not path.exists():
            problems.append(Problem(path.relative_to(root).as_posix(),
                                    "a broken or looping link: not followed"))
        elif not path.resolve().is_relative_to(root):
            problems.append(Problem(path.relative_to(root).as_posix(), "a link to "
                                    f"{path.resolve()}, outside the corpus folder: not "
                                    "followed (copy the file in instead)"))
        elif path.is_file():
            found.add(path.resolve())


class _StoredIds:
    """Chunk ids per source. When the manifest's chunk counts add up to the store's count,
    every stored chunk belongs to a recorded file, and ids are read one changed file at a
    time; otherwise (chunks left by a killed run, or a manifest from before the counts)
    all of them are read at once, as before."""

    def __init__(self, store: Store, entries: dict[str, dict]) -> None:
        self.store = store
        counts = [entry.get("chunks") for entry in entries.values()]
        exact = None not in counts and sum(counts) == store.count()
        self._all = None if exact else store.ids_by_source()
        self._known = {source: None for source in entries}  # None: not read yet

    def of(self, source: str) -> set[str]:
        if self._all is not None:
            return self._all.get(source, set())
        if self._known.get(source) is None:
            self._known[source] = self.store.ids_of(source) if source in self._known else set()
        return self._known[source]

    def put(self, source: str, ids: set[str]) -> None:
        if self._all is not None:
            self._all[source] = ids
        else:
            self._known[source] = ids

    def pop(self, source: str) -> set[str]:
        ids = self.of(source)
        (self._all if self._all is not None else self._known).pop(source, None)
        return ids

    def sources(self) -> set[str]:
        return set(self._all if self._all is not None else self._known)


class _Batch:
    """Chunks waiting to be embedded, and the files they complete."""

    def __init__(self) -> None:
        self.chunks: list[Chunk] = []
        self.files: dict[str, dict] = {}  # source -> its manifest entry

    def __len__(self) -> int:
        return len(self.chunks)


def ingest(settings: Settings, paths: list[Path] | None = None, rebuild: bool = False,
           progress: bool = True, embedder: Embedder | None = None,
           reread: bool = False) -> IngestReport:
    """Index the corpus dir (or just `paths`); see the module docstring for the guarantees.
    `reread`: read the files again even when they look unchanged (after a reader fix).

    A run brings exactly what it was given up to date, like `git add`: the whole corpus,
    or each path in `paths` and what lies under it. So a file given after it was deleted
    loses its chunks, and so does everything under a folder given (a one-file change
    costs one file, not a walk of the archive). A file given from outside the corpus dir
    is stored under its absolute path and kept: later whole-corpus runs re-check it
    (refreshed when it changed) and remove it only once it is gone from disk. Raises
    StoreError while another ingest writes the same local store (a lock file in the store
    dir; one left by a killed run is ignored).
    """
    if paths is None and not Path(settings.corpus_dir).is_dir():
        raise ConfigError(f"The corpus folder {settings.corpus_dir} does not exist: create it "
                          f"and put article files in it ({' '.join(sorted(SUPPORTED))}), or "
                          "point NEWSQA_CORPUS_DIR at yours.")
    embedder = embedder or make_embedder(settings)
    if settings.chroma_host:  # a Chroma server serialises writes itself
        return _ingest(settings, paths, rebuild, progress, embedder, reread)
    with ingest_lock(settings.store_dir):
        return _ingest(settings, paths, rebuild, progress, embedder, reread)


def _ingest(settings: Settings, paths: list[Path] | None, rebuild: bool, progress: bool,
            embedder: Embedder, reread: bool = False) -> IngestReport:
    began = time.perf_counter()
    # A rebuild fills a new collection that becomes active only once complete.
    store = open_rebuild(settings, embedder) if rebuild else open_store(settings, embedder,
                                                                          create=True)
    began_from = None if rebuild else store.generation()
    # A run killed after writing left the store ahead of its published generation: this
    # one publishes, and its lexical index is built from the store, not derived.
    interrupted = not rebuild and store.interrupted()
    # The manifest the publishing run saved beside the store, when it is the current one's
    # (a read of the store's costs about 80 µs a file: 7 s at 75k files).
    saved_manifest = SavedManifest(lexical_root(settings))
    entries = None if rebuild or interrupted else saved_manifest.load(began_from)
    run = _Run(settings, store, embedder, reread, entries)
    completed = False
    try:
        files = collect_files(paths or [settings.corpus_dir], run.report.skipped)
        if paths is None:
            files += run.outside_files()
        run.report.files = len(files)
        run.add_files(files, progress)
        run.remove_missing({run.source_of(p) for p in files},
                           None if paths is None else [Path(p).resolve() for p in paths])
        completed = True
    finally:
        # Even a run that failed half-way may have deleted chunks of the active index;
        # a half-built rebuild is never published (the next rebuild drops it).
        # (A store from before generations gets its first one: readers can then load its
        # saved lexical index.)
        if (rebuild and completed) or (not rebuild and (
                store.changed or interrupted or store.generation() is None)):
            generation = new_generation()
            # Derived from the generation the run began from, when nothing else wrote:
            # not after a failure, a killed run, or another writer's publish meanwhile.
            trusted = completed and (rebuild or (not interrupted
                                                 and store.generation() == began_from))
            changes = run.changes if trusted else None
            _save_lexical(settings, store, generation, changes, began_from, rebuild)
            if trusted:
                saved_manifest.save(generation, run.manifest_after())
            store.publish(generation, follows=began_from, changed=changes)
        store.close()
    run.report.seconds = time.perf_counter() - began
    log.info("ingest done: %d chunks added, %d removed in %.1f s", run.report.chunks_added,
             run.report.chunks_removed, run.report.seconds)
    return run.report


class _Run:
    """One ingest run: compares files with the manifest and writes the differences."""

    def __init__(self, settings: Settings, store: Store, embedder: Embedder,
                 reread: bool = False, entries: dict[str, dict] | None = None) -> None:
        self.settings, self.store, self.embedder = settings, store, embedder
        self.report = IngestReport()
        self.tokenizer = load_tokenizer()
        self.entries = store.manifest_entries() if entries is None else entries
        self.manifest = {source: e["fingerprint"] for source, e in self.entries.items()}
        self.stored = _StoredIds(store, self.entries)
        self.batch = _Batch()
        self.pending: Future | None = None
        self._root = Path(settings.corpus_dir).resolve()
        self._recipe = recipe(settings)
        self._sources: dict[Path, str] = {}
        self.recorded: dict[str, dict] = {}  # manifest entries written by this run
        self.forgotten: set[str] = set()  # and taken out
        # What the lexical index must learn: each changed source's chunks, None when gone.
        self.changes: dict[str, list[Chunk] | None] = {}
        self.reread = reread  # read every file, even one that looks unchanged

    def manifest_after(self) -> dict[str, dict]:
        """The manifest as this run leaves it."""
        entries = {s: e for s, e in self.entries.items() if s not in self.forgotten}
        return entries | self.recorded

    def source_of(self, path: Path) -> str:
        """The source name of a file from collect_files (so already resolved), worked out
        once per run."""
        if path not in self._sources:
            self._sources[path] = source_name(path, self._root, resolved=True)
        return self._sources[path]

    def outside_files(self) -> list[Path]:
        """Files stored earlier from outside the corpus dir that still exist on disk."""
        sources = self.stored.sources() | set(self.manifest)
        return sorted(Path(s) for s in sources if Path(s).is_absolute() and Path(s).is_file())

    def add_files(self, files: list[Path], progress: bool) -> None:
        from tqdm import tqdm

        with (tqdm(total=len(files), desc="ingest", unit="file",
                   disable=not progress or not files) as bar,
              ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer") as writer):
            self.writer = writer
            for path in files:
                self.add_file(path)
                if len(self.batch) >= FLUSH_BATCHES * self.settings.embed_batch:
                    self.flush()
                bar.set_postfix(chunks=self.report.chunks_added, refresh=False)
                bar.update()
            self.flush()
            self._wait_for_writes()
            bar.set_postfix(chunks=self.report.chunks_added)  # the final count, shown on close

    def add_file(self, path: Path) -> None:
        """One file in. A file that cannot be read is reported and skipped, never fatal."""
        source = self.source_of(path)
        try:
            status = path.stat()
            if not self.reread and self._untouched(source, status):  # like git's index
                self._unchanged(source)
                return
            data = path.read_bytes() if status.st_size <= self._max_bytes else b""
            stamp = fingerprint(data, self.settings)
            if data and not self.reread and self.manifest.get(source) == stamp:  # touched
                self._unchanged(source)
                self.batch.files[source] = self._entry(stamp, status, self._count(source))
                return
            chunks = self._read_chunks(path, source, data)
        except FileNotFoundError:
            self.report.skipped.append(Problem(source, "removed while the ingest ran"))
            chunks = None
        except OSError as error:  # e.g. PermissionError: keep what was indexed of it
            self.report.skipped.append(Problem(
                source, f"cannot be read ({error.strerror or error}): skipped, its indexed "
                        "version kept; fix its permissions and ingest again"))
            return
        except Exception as error:  # one bad file must never stop an ingest
            log.exception("reading %s failed", source)
            self.report.skipped.append(Problem(
                source, f"could not be read ({type(error).__name__}: {error}): skipped"))
            return
        if chunks is None:  # unreadable now: whatever it held before is stale
            self._forget(source)
            return
        self.report.files_changed += 1
        self._stage(source, self._entry(stamp, status, len({c.id for c in chunks})), chunks)

    def _untouched(self, source: str, status) -> bool:
        """Same size and mtime as when its chunks were recorded, with the same recipe, and
        not modified within RACY_SECONDS of that record (a write in the same tick as the
        record could leave both unchanged): the file is as it was, unread."""
        entry = self.entries.get(source)
        if not entry or "mtime_ns" not in entry:
            return False
        return (entry["size"] == status.st_size and entry["mtime_ns"] == status.st_mtime_ns
                and entry["fingerprint"].partition(":")[2] == self._recipe
                and status.st_mtime_ns / 1e9 < entry["at"] - RACY_SECONDS)

    def _unchanged(self, source: str) -> None:
        self.report.files_unchanged += 1
        self.report.chunks_unchanged += self._count(source)

    def _count(self, source: str) -> int:
        """The file's stored chunks, from its manifest entry when it records them."""
        entry = self.entries.get(source, {})
        return entry["chunks"] if "chunks" in entry else len(self.stored.of(source))

    @staticmethod
    def _entry(stamp: str, status, chunks: int) -> dict:
        return {"fingerprint": stamp, "size": status.st_size, "mtime_ns": status.st_mtime_ns,
                "chunks": chunks, "at": time.time()}

    @property
    def _max_bytes(self) -> int:
        return int(self.settings.max_file_mb * 1024 * 1024)

    def _read_chunks(self, path: Path, source: str, data: bytes) -> list[Chunk] | None:
        result = read_file(path, self.settings.corpus_dir, max_bytes=self._max_bytes,
                           data=data or None)
        for problem in result.problems:
            (self.report.skipped if problem.skipped else self.report.notes).append(problem)
        if not result.articles:
            return None
        self.report.articles += len(result.articles)
        return [chunk for article in result.articles
                for chunk in chunk_article(article, result.text, self.tokenizer,
                                           self.settings.chunk_tokens, self.settings.chunk_overlap)]

    def _stage(self, source: str, entry: dict, chunks: list[Chunk]) -> None:
        """Queue the file's new chunks; delete its stale ones; refresh moved ones."""
        old = self.stored.of(source)
        new_ids = {c.id for c in chunks}
        stale = old - new_ids
        if stale:
            self.store.delete(sorted(stale))
        kept = [c for c in chunks if c.id in old]
        self._refresh(kept)
        self.report.chunks_removed += len(stale)
        self.batch.chunks.extend(c for c in chunks if c.id not in old)
        self.batch.files[source] = entry
        self.stored.put(source, new_ids)
        self.changes[source] = chunks

    def _refresh(self, kept: list[Chunk]) -> None:
        """Chunks whose text is unchanged but whose offsets or metadata moved."""
        current = {c.id: c for c in self.store.get([c.id for c in kept])}
        moved = [c for c in kept if current.get(c.id) != c]
        if moved:
            self.store.update_metadata(moved)
        self.report.chunks_updated += len(moved)
        self.report.chunks_unchanged += len(kept) - len(moved)

    def flush(self) -> None:
        """Embed the queued chunks; a writer thread stores them and then marks their files
        done, while the model embeds the next batch (Chroma's writes release the GIL)."""
        batch, self.batch = self.batch, _Batch()
        vectors = self.embedder.embed([c.text for c in batch.chunks]) if batch.chunks else None
        self._wait_for_writes()  # one batch in flight: keeps order and bounds memory
        self.pending = self.writer.submit(self._write, batch, vectors)
        self.report.chunks_added += len(batch.chunks)

    def _write(self, batch: _Batch, vectors) -> None:
        if batch.chunks:
            self.store.upsert(batch.chunks, vectors)
        if batch.files:
            self.store.record_files(batch.files)  # only now: the files' chunks are stored
            self.recorded.update(batch.files)

    def _wait_for_writes(self) -> None:
        if self.pending is not None:
            self.pending.result()  # re-raises a failed write here
            self.pending = None

    def _forget(self, source: str) -> None:
        old = self.stored.pop(source)
        self.changes[source] = None
        if old:
            self.store.delete(sorted(old))
            self.report.chunks_removed += len(old)
        if source in self.manifest:
            self.store.forget_files([source])
            self.forgotten.add(source)

    def remove_missing(self, present: set[str], within: list[Path] | None = None) -> None:
        """Forget the recorded files not `present`: all of them, or those at or under one
        of the paths `within` (the paths a run was given). A given path that is neither
        on disk nor recorded is reported."""
        recorded = self.stored.sources() | set(self.manifest)
        if within is not None:
            inside: set[str] = set()
            for path in within:
                found = self._recorded_at(path, recorded)
                if not found and not path.exists():
                    self.report.skipped.append(Problem(
                        str(path), "not found, and nothing under it is indexed: check the path"))
                inside |= found
            recorded = inside
        gone = recorded - present
        for source in sorted(gone):
            self._forget(source)
        self.report.files_removed = len(gone)

    def _recorded_at(self, path: Path, recorded: set[str]) -> set[str]:
        """The recorded sources at `path` (a file: one look-up) or under it (a folder, or a
        path gone from disk that may have been one: a scan of the record)."""
        source = self.source_of(path)
        if source in recorded and not path.is_dir():
            return {source}
        scope = path.as_posix().rstrip("/") + "/"
        root = self._root.as_posix()
        return {s for s in recorded
                if (s if s.startswith("/") else f"{root}/{s}").startswith(scope)}


class SavedManifest:
    """The file manifest of a store generation, saved as JSON beside its lexical index;
    the two newest kept. Only ever a copy: the store's own manifest is the record."""

    KEEP = 2

    def __init__(self, root: Path) -> None:
        self.folder = Path(root) / "manifests"

    def load(self, generation: str | None) -> dict[str, dict] | None:
        if not generation:
            return None
        try:
            return orjson.loads((self.folder / f"{generation}.json").read_bytes())
        except (OSError, ValueError):  # not saved (or damaged): read the store's
            return None

    def save(self, generation: str, entries: dict[str, dict]) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            scratch = self.folder / f".{generation}-{time.time_ns()}"
            scratch.write_bytes(orjson.dumps(entries))  # 0.03 s at 78k files, json's 0.2
            os.replace(scratch, self.folder / f"{generation}.json")
            saved = sorted(self.folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
            for old in saved[:-self.KEEP]:
                old.unlink(missing_ok=True)
        except OSError as error:  # only costs the next run a read of the store's
            log.info("the file manifest was not saved beside the store (%s)", error)


def _save_lexical(settings: Settings, store: Store, generation: str,
                  changes: dict[str, list[Chunk] | None] | None, began_from: str | None,
                  rebuild: bool) -> None:
    """The BM25 side of the new generation, saved before readers hear of it, so that they
    load it instead of each building it (a failure here only costs them that). It is the
    generation the run began from plus `changes`, which costs the change; without that
    generation saved, or after a failed run (`changes` None), it is built from every chunk
    in the store. A result that disagrees with the store's count is built again too."""
    from rag.lexical import LexicalIndex, SavedLexical

    saved = SavedLexical(lexical_root(settings))
    try:
        base = LexicalIndex() if rebuild else saved.load(began_from)
        index = base.changed(changes) if base is not None and changes is not None else None
        if index is not None and index.size != store.count():
            log.warning("the lexical index (%d chunks) disagrees with the store (%d): "
                        "building it from the store", index.size, store.count())
            index = None
        saved.save(index if index is not None else LexicalIndex.build(store.all_chunks()),
                   generation)
    except (StoreError, OSError) as error:
        log.warning("the lexical index was not saved (%s): readers will build it", error)


def ensure_index(settings: Settings) -> None:
    """Builds the index from the corpus when there is none (or it is empty)."""
    embedder = make_embedder(settings)
    try:
        store = open_store(settings, embedder)
        count = store.count()
        store.close()
        if count > 0:
            return
    except IndexMissingError:
        pass
    log.info("building the index from %s ...", settings.corpus_dir)
    report = ingest(settings, progress=True, embedder=embedder)
    log.info("%s", report.summary())


def main() -> None:
    """`python -m index.ingest [PATH...]`: the same as `newsqa ingest`."""
    import sys

    from rag.config import get_settings

    logging.basicConfig(level="INFO", format="%(levelname)s %(name)s: %(message)s")
    paths = [Path(arg) for arg in sys.argv[1:] if not arg.startswith("--")] or None
    report = ingest(get_settings(), paths=paths, rebuild="--rebuild" in sys.argv)
    print(report.summary())


if __name__ == "__main__":
    main()
