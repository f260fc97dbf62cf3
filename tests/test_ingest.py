"""Ingest: idempotent, incremental (changed / removed files), rebuild, bad input, and a run
killed mid-way that the next run completes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from evals.bench_ingest import generate_corpus
from index.chunker import chunk_article
from index.embedder import HashEmbedder, load_tokenizer
from index.ingest import collect_files, ensure_index, ingest
from index.reader import read_file, source_name
from index.store import open_store
from tests.conftest import ROOT, make_settings
from tests.document_files import write_docx, write_pdf, write_scanned_pdf

EMBEDDER = HashEmbedder()


def run(settings, **kwargs):
    return ingest(settings, progress=False, embedder=EMBEDDER, **kwargs)


def stored(settings):
    return open_store(settings, EMBEDDER).all_chunks()


def expected_ids(settings) -> set[str]:
    """The chunk ids a fresh reading of the corpus gives (no store involved)."""
    tokenizer, ids = load_tokenizer(), set()
    for path in collect_files([settings.corpus_dir]):
        result = read_file(path, settings.corpus_dir)
        for article in result.articles:
            ids |= {c.id for c in chunk_article(article, result.text, tokenizer,
                                                settings.chunk_tokens, settings.chunk_overlap)}
    return ids


def assert_offsets_exact(settings, chunks):
    for chunk in chunks:
        text = read_file(Path(settings.corpus_dir) / chunk.source, settings.corpus_dir).text
        assert text[chunk.start:chunk.end] == chunk.text, chunk.id


@pytest.fixture
def corpus_settings(tmp_path, corpus):
    return make_settings(tmp_path, corpus_dir=corpus)


def test_second_run_adds_nothing(corpus_settings):
    first = run(corpus_settings)
    second = run(corpus_settings)
    assert first.files == 5 and first.articles == 6 and first.chunks_added > 20
    assert (second.chunks_added, second.chunks_removed, second.chunks_updated) == (0, 0, 0)
    assert second.files_unchanged == 5 and second.chunks_unchanged == first.chunks_added
    assert {c.id for c in stored(corpus_settings)} == expected_ids(corpus_settings)


def test_changed_file_replaces_exactly_its_chunks(corpus_settings, corpus):
    run(corpus_settings)
    before = {c.id: c for c in stored(corpus_settings)}
    target = corpus / "003_e7575791f94f3015.txt"
    target.write_text(target.read_text() + "\nA new closing paragraph was added later.\n")
    report = run(corpus_settings)
    after = {c.id: c for c in stored(corpus_settings)}
    assert report.files_changed == 1 and report.files_unchanged == 4
    changed = {i for i in before.keys() ^ after.keys()}
    assert changed and all(i.startswith("003_") for i in changed)
    assert report.chunks_added == len(after.keys() - before.keys())
    assert report.chunks_removed == len(before.keys() - after.keys())
    assert set(after) == expected_ids(corpus_settings)


def test_shifted_text_keeps_ids_and_fixes_offsets(corpus_settings, corpus):
    run(corpus_settings)
    target = corpus / "000_d68abaf6e094f2ff.txt"
    target.write_text("Short note added on top.\n\n" + target.read_text())
    report = run(corpus_settings)
    assert report.chunks_updated >= 2  # same text, new offsets: no re-embedding
    assert_offsets_exact(corpus_settings, stored(corpus_settings))


def test_removed_file_loses_its_chunks(corpus_settings, corpus):
    run(corpus_settings)
    (corpus / "004_94450483d03d6010.txt").unlink()
    report = run(corpus_settings)
    assert report.files_removed == 1 and report.chunks_removed > 5
    assert not any(c.source.startswith("004_") for c in stored(corpus_settings))
    assert "004_94450483d03d6010.txt" not in open_store(corpus_settings, EMBEDDER).manifest()


def test_rebuild_starts_over(corpus_settings):
    first = run(corpus_settings)
    again = run(corpus_settings, rebuild=True)
    assert again.chunks_added == first.chunks_added == len(stored(corpus_settings))


def test_rebuild_switches_embedder(corpus_settings):
    run(corpus_settings)
    other = HashEmbedder(dimension=16)
    report = ingest(corpus_settings, rebuild=True, progress=False, embedder=other)
    assert open_store(corpus_settings, other).count() == report.chunks_added


def test_paths_ingest_only_those_files(corpus_settings, corpus):
    report = run(corpus_settings, paths=[corpus / "002_7a285edda9df7335.txt"])
    assert report.files == 1 and {c.source for c in stored(corpus_settings)} == {
        "002_7a285edda9df7335.txt"}


def test_a_run_over_paths_brings_exactly_them_up_to_date(corpus_settings, corpus,
                                                         monkeypatch):
    """#13: one file in or out costs that file, not a walk of the archive; like `git add`,
    a path given after its file was deleted takes the file's chunks out."""
    import index.ingest as ingest_module

    run(corpus_settings)
    walked = []
    real_walk = ingest_module._walk
    monkeypatch.setattr(ingest_module, "_walk",
                        lambda folder, *rest: walked.append(folder) or real_walk(folder, *rest))
    (corpus / "news").mkdir()
    added = corpus / "news" / "extra.txt"
    added.write_text("Port reopens\n\nThe port reopened on Monday after repairs.\n")
    report = run(corpus_settings, paths=[added])
    assert report.files_changed == 1 and walked == []
    gone = corpus / "004_94450483d03d6010.txt"
    gone.unlink()
    report = run(corpus_settings, paths=[gone])
    assert report.files_removed == 1 and report.chunks_removed > 5 and report.files == 0
    assert walked == [] and not report.skipped
    sources = {c.source for c in stored(corpus_settings)}
    assert "news/extra.txt" in sources and not any(s.startswith("004_") for s in sources)
    assert "004_94450483d03d6010.txt" not in open_store(corpus_settings, EMBEDDER).manifest()

    # A folder given: what is gone under it goes; a file beside it, even in a folder whose
    # name starts the same, stays.
    (corpus / "newsletter").mkdir()
    beside = corpus / "newsletter" / "kept.txt"
    beside.write_text("Mill closes\n\nThe mill closed on Friday after a century.\n")
    run(corpus_settings, paths=[beside])
    added.unlink()
    report = run(corpus_settings, paths=[corpus / "news"])
    sources = {c.source for c in stored(corpus_settings)}
    assert report.files_removed == 1 and "news/extra.txt" not in sources
    assert "newsletter/kept.txt" in sources
    beside.unlink()
    run(corpus_settings, paths=[beside])
    assert len({c.source for c in stored(corpus_settings)}) == 4
    # A path that is neither on disk nor indexed is named, and nothing is lost.
    report = run(corpus_settings, paths=[corpus / "no-such-file.txt"])
    assert report.files_removed == 0 and "not found" in report.skipped[0].reason
    assert len({c.source for c in stored(corpus_settings)}) == 4


def test_bad_inputs_are_reported_and_skipped(corpus_settings, corpus):
    (corpus / "empty.txt").write_text("")
    (corpus / "image.txt").write_bytes(bytes(range(256)) * 8)
    (corpus / "latin.txt").write_bytes("Fee news\n\nA £15.8m fee was paid on Monday.".encode(
        "cp1252"))
    (corpus / "feed.jsonl").write_text(
        json.dumps({"title": "Ok", "text": "Good record text."}) + "\n{not json\n")
    (corpus / "huge.txt").write_text("word " * 300_000)  # 1.5 MB
    settings = make_settings(corpus_settings.store_dir.parent, corpus_dir=corpus, max_file_mb=1)
    report = run(settings)
    reasons = {str(p) for p in report.skipped}
    assert "empty.txt: empty file" in reasons
    assert "image.txt: binary file, not text" in reasons
    assert any(r.startswith("feed.jsonl:2: malformed JSON line") for r in reasons)
    assert any(r.startswith("huge.txt: file is 1.4 MB, over the 1 MB limit") for r in reasons)
    assert any(str(p).startswith("latin.txt: not valid UTF-8") and "cp1252" in str(p)
               for p in report.notes)
    sources = {c.source for c in stored(settings)}
    assert {"latin.txt", "feed.jsonl"} <= sources and not {"empty.txt", "image.txt"} & sources
    assert "skipped empty.txt: empty file" in report.summary()


def test_pdf_and_docx_in_the_corpus_are_ingested_with_exact_offsets(corpus_settings, corpus):
    story = ["Published 2 February 2026 · Reuters",
             ("The port of Example reopened on Monday after a storm closed it for three days, "
              "officials said, and the first ships were unloaded by the evening.")]
    write_pdf(corpus / "port.pdf", [story], title="Port reopens after storm")
    write_docx(corpus / "port.docx", story, title="Port reopens after storm")
    write_scanned_pdf(corpus / "scan.pdf")
    report = run(corpus_settings)
    chunks = [c for c in stored(corpus_settings) if c.source in ("port.pdf", "port.docx")]
    assert {(c.source, c.published, c.outlet) for c in chunks} == {
        ("port.pdf", "2026-02-02", "Reuters"), ("port.docx", "2026-02-02", "Reuters")}
    assert_offsets_exact(corpus_settings, chunks)
    assert any(str(p).startswith("scan.pdf: no text layer") for p in report.skipped)
    assert run(corpus_settings).chunks_added == 0


def test_files_that_cannot_be_read_are_skipped_and_the_rest_ingested(
        corpus_settings, corpus, monkeypatch, tmp_path):
    """Each of these stopped the whole ingest with a traceback, on every run."""
    run(corpus_settings)
    before = {c.source for c in stored(corpus_settings)}
    (corpus / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (corpus / "deep.jsonl").write_text(json.dumps({"title": "Fine", "text": "A fine line."})
                                       + "\n" + "[" * 100_000 + "]" * 100_000 + "\n")
    (corpus / "new.txt").write_text("New article\n\nThe council met on Monday to vote.")
    secret = tmp_path / "outside" / "passwd.txt"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0:root:/root:/bin/bash")
    (corpus / "linked.txt").symlink_to(secret)
    (corpus / "inside-link.txt").symlink_to(corpus / "new.txt")  # stays inside: read (as new.txt)
    locked = corpus / "002_7a285edda9df7335.txt"  # indexed before; now touched and unreadable
    os.utime(locked)  # an untouched file is not even read (its stat is unchanged)
    gone = corpus / "vanishing.txt"  # listed, then deleted before it is read
    gone.write_text("Gone soon\n\nThis file is deleted mid-run.")
    real_read_bytes = Path.read_bytes

    def read_bytes(path):
        if path == locked:  # tests run as root, who may read a chmod 000 file
            raise PermissionError(13, "Permission denied", str(path))
        if path == gone:
            path.unlink()
        return real_read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    report = run(corpus_settings)

    reasons = {p.source: p.reason for p in report.skipped}
    assert "nested too deeply" in reasons["deep.json"]
    assert "deep.jsonl" in {c.source for c in stored(corpus_settings)}  # its good line
    assert "Permission denied" in reasons[locked.name] and "kept" in reasons[locked.name]
    assert "removed while the ingest ran" in reasons["vanishing.txt"]
    assert "outside the corpus folder" in reasons["linked.txt"]
    sources = {c.source for c in stored(corpus_settings)}
    assert locked.name in sources  # its indexed version is not lost
    assert "new.txt" in sources and "inside-link.txt" not in reasons
    assert not {"linked.txt", "vanishing.txt", "deep.json"} & sources
    assert before <= sources
    assert not any("root:x" in c.text for c in stored(corpus_settings))


def test_file_that_turns_bad_loses_its_chunks(corpus_settings, corpus):
    run(corpus_settings)
    (corpus / "001_d3167d0071582912.txt").write_bytes(b"")
    report = run(corpus_settings)
    assert report.chunks_removed > 0
    assert not any(c.source.startswith("001_") for c in stored(corpus_settings))


def test_ensure_index_builds_once(tmp_path, caplog):
    settings = make_settings(tmp_path, embedder="hash")
    with caplog.at_level("INFO", logger="index.ingest"):
        ensure_index(settings)
    assert "building the index" in caplog.text
    count = open_store(settings, HashEmbedder()).count()
    caplog.clear()
    ensure_index(settings)
    assert "building the index" not in caplog.text and count > 0


def test_bundled_index_with_the_real_model(bundled_index):
    """The shared session index (MiniLM): exact offsets and dates on every stored chunk."""
    from index.embedder import make_embedder

    chunks = open_store(bundled_index, make_embedder(bundled_index)).all_chunks()
    assert_offsets_exact(bundled_index, chunks)
    assert len({c.article_id for c in chunks}) == 6
    assert {c.published for c in chunks if c.source.startswith("004_")} == {
        "2021-06-29", "2026-01-10"}
    tokenizer = load_tokenizer()
    assert max(len(tokenizer.encode(c.text, add_special_tokens=False).ids)
               for c in chunks) <= bundled_index.chunk_tokens


def test_cli_stats_and_ingest(tmp_path, monkeypatch):
    from rag.cli import main
    from rag.config import get_settings

    monkeypatch.setenv("NEWSQA_CORPUS_DIR", str(ROOT / "data" / "articles"))
    monkeypatch.setenv("NEWSQA_STORE_DIR", str(tmp_path / "cli-store"))
    monkeypatch.setenv("NEWSQA_EMBEDDER", "hash")
    get_settings.cache_clear()
    runner = CliRunner()
    assert "no index" in runner.invoke(main, ["stats"]).output
    result = runner.invoke(main, ["ingest"])
    assert result.exit_code == 0 and "files: 5 (5 new or changed" in result.output
    stats = runner.invoke(main, ["stats"]).output
    assert re.search(r"articles: 6\b", stats) and "hash-64" in stats


def test_cli_ingest_of_a_deleted_file_takes_it_out(tmp_path, monkeypatch, corpus):
    from rag.cli import main
    from rag.config import get_settings

    monkeypatch.setenv("NEWSQA_CORPUS_DIR", str(corpus))
    monkeypatch.setenv("NEWSQA_STORE_DIR", str(tmp_path / "cli-store"))
    monkeypatch.setenv("NEWSQA_EMBEDDER", "hash")
    get_settings.cache_clear()
    runner = CliRunner()
    assert runner.invoke(main, ["ingest"]).exit_code == 0
    gone = corpus / "004_94450483d03d6010.txt"
    gone.unlink()
    result = runner.invoke(main, ["ingest", str(gone)])
    assert result.exit_code == 0 and "1 removed" in result.output
    result = runner.invoke(main, ["ingest", str(corpus / "typo.txt")])
    assert result.exit_code != 0 and "not found" in result.output


def test_progress_bar_ends_with_the_chunks_added(corpus_settings, capsys):
    report = ingest(corpus_settings, progress=True, embedder=EMBEDDER)
    shown = re.findall(r"chunks=(\d+)", capsys.readouterr().err)
    assert report.chunks_added > 0 and int(shown[-1]) == report.chunks_added


def test_file_outside_the_corpus_is_kept_until_it_is_gone(corpus_settings, tmp_path):
    outside = tmp_path / "elsewhere" / "note.txt"
    outside.parent.mkdir()
    outside.write_text("Outside headline\n\nA council meeting agreed a new budget on Monday.\n")
    run(corpus_settings, paths=[outside])
    sources = {c.source for c in stored(corpus_settings)}
    assert sources == {outside.resolve().as_posix()}  # absolute: it has no corpus-relative name

    whole = run(corpus_settings)  # a whole-corpus run keeps (and re-checks) it
    assert whole.files == 6 and whole.files_removed == 0 and whole.files_unchanged == 1
    assert outside.resolve().as_posix() in {c.source for c in stored(corpus_settings)}

    outside.write_text("Outside headline\n\nThe council rejected the budget on Tuesday.\n")
    changed = run(corpus_settings)
    assert changed.files_changed == 1 and changed.chunks_added >= 1
    assert any("rejected" in c.text for c in stored(corpus_settings))

    outside.unlink()
    gone = run(corpus_settings)
    assert gone.files_removed == 1 and gone.chunks_removed >= 1
    assert all(not c.source.startswith("/") for c in stored(corpus_settings))


LOCK_HOLDER = """
import sys, time
from pathlib import Path
from index.lock import ingest_lock
with ingest_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_second_ingest_on_the_same_store_is_refused(corpus_settings):
    from rag.errors import StoreError

    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(corpus_settings.store_dir)],
                              env=os.environ | {"PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreError, match=rf"another ingest is running \(pid {holder.pid}\)"):
            run(corpus_settings)
    finally:
        holder.kill()
        holder.wait()
    assert run(corpus_settings).chunks_added > 0  # the holder died: its lock went with it


def test_a_stale_lock_file_does_not_block(corpus_settings):
    from index.lock import LOCK_NAME

    corpus_settings.store_dir.mkdir(parents=True)
    (corpus_settings.store_dir / LOCK_NAME).write_text("999999\n")  # left by a killed run
    assert run(corpus_settings).chunks_added > 0


# -- an ingest killed mid-way (SIGKILL) is completed by the next run --

COUNT_SCRIPT = """
import json
from collections import Counter
from index.embedder import make_embedder
from index.store import open_store
from rag.config import get_settings
settings = get_settings()
store = open_store(settings, make_embedder(settings))
chunks = store.all_chunks()
spans = Counter((c.source, c.start, c.end) for c in chunks)
print(json.dumps({"ids": [c.id for c in chunks], "count": store.count(),
                  "dup_spans": sum(n - 1 for n in spans.values()),
                  "manifest": sorted(store.manifest())}))
"""


def _env(corpus: Path, store: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSQA_", "OPENAI_"))}
    return env | {"NEWSQA_CORPUS_DIR": str(corpus), "NEWSQA_STORE_DIR": str(store),
                  "NEWSQA_EMBED_BATCH": "2", "NEWSQA_CHUNK_TOKENS": "64",
                  "NEWSQA_CHUNK_OVERLAP": "8", "PYTHONPATH": str(ROOT)}


def _ingest_until_half(env: dict, files: int, cwd: Path, *flags: str) -> None:
    """Starts `newsqa ingest` and SIGKILLs it once the progress bar passes half the files."""
    process = subprocess.Popen([sys.executable, "-m", "rag.cli", "ingest", *flags], env=env,
                               cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        seen += os.read(process.stderr.fileno(), 4096)
        done = [int(n) for n in re.findall(rb"(\d+)/%d " % files, seen)]
        if done and max(done) >= files // 2:
            break
        assert process.poll() is None, seen.decode(errors="replace")[-2000:]
    process.send_signal(signal.SIGKILL)
    process.wait()


def _counts(env: dict, cwd: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", COUNT_SCRIPT], env=env, cwd=cwd,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_killed_ingest_is_completed_without_duplicates(tmp_path):
    corpus = generate_corpus(tmp_path / "big", files=30)
    env = _env(corpus, tmp_path / "store")
    settings = make_settings(tmp_path, corpus_dir=corpus, chunk_tokens=64, chunk_overlap=8)
    wanted = expected_ids(settings)

    _ingest_until_half(env, 30, tmp_path)
    partial = _counts(env, tmp_path)
    assert 0 < partial["count"] < len(wanted), "the kill should land mid-way"
    assert len(partial["manifest"]) < 30

    finish = subprocess.run([sys.executable, "-m", "rag.cli", "ingest"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, check=True)
    final = _counts(env, tmp_path)
    assert set(final["ids"]) == wanted and final["count"] == len(wanted)
    assert final["dup_spans"] == 0 and len(final["manifest"]) == 30
    added = int(re.search(r"chunks: (\d+) added", finish.stdout).group(1))
    assert added == len(wanted) - partial["count"]  # nothing embedded twice
    assert {source_name(p, corpus) for p in corpus.iterdir()} == set(final["manifest"])


def test_a_killed_rebuild_leaves_the_index_whole_and_the_next_one_clears_it(tmp_path):
    """A rebuild fills a new collection that becomes active only once complete: killed
    half-way, it leaves the active index as it was (it used to leave 100 of 7,315 rows)."""
    corpus = generate_corpus(tmp_path / "big", files=30)
    env = _env(corpus, tmp_path / "store")
    subprocess.run([sys.executable, "-m", "rag.cli", "ingest"], env=env, cwd=tmp_path,
                   capture_output=True, check=True)
    whole = _counts(env, tmp_path)

    _ingest_until_half(env, 30, tmp_path, "--rebuild")
    assert _counts(env, tmp_path) == whole

    subprocess.run([sys.executable, "-m", "rag.cli", "ingest", "--rebuild"], env=env,
                   cwd=tmp_path, capture_output=True, check=True)
    assert _counts(env, tmp_path) == whole
    listed = subprocess.run([sys.executable, "-c", LIST_SCRIPT], env=env, cwd=tmp_path,
                            capture_output=True, text=True, check=True).stdout.split()
    # the active rebuild with its manifest, and the state: no first index, no half-built one
    assert len(listed) == 3 and sum(n.endswith("-state") for n in listed) == 1, listed


LIST_SCRIPT = """
from index.store import connect
from rag.config import get_settings
print(" ".join(sorted(c.name for c in connect(get_settings()).list_collections())))
"""


def test_a_full_disk_is_named_and_the_next_run_resumes_without_loss(tmp_path, monkeypatch):
    """#11 item 8: a full disk gave raw Chroma tracebacks ("Failed to apply logs to the
    metadata segment", the error Chroma raised on a real 3 MB tmpfs) without a word about
    disk space. Simulated here: the third write fails and the disk reports 1 MB free."""
    from collections import namedtuple

    from chromadb.api.models.Collection import Collection
    from chromadb.errors import InternalError

    import index.store
    from rag.errors import StoreError

    corpus = generate_corpus(tmp_path / "big", files=30)
    settings = make_settings(tmp_path, corpus_dir=corpus, embed_batch=2, chunk_tokens=64,
                             chunk_overlap=8)
    wanted = expected_ids(settings)
    real_upsert, writes = Collection.upsert, []

    def failing_upsert(self, *args, **kwargs):
        if self.name.endswith("-state"):  # the store's own bookkeeping, not a write counted
            return real_upsert(self, *args, **kwargs)
        writes.append(1)
        if len(writes) == 3:
            raise InternalError("Error in compaction: Failed to apply logs to the metadata "
                                "segment")
        return real_upsert(self, *args, **kwargs)

    usage = namedtuple("usage", "total used free")
    with monkeypatch.context() as patch:
        patch.setattr(Collection, "upsert", failing_upsert)
        patch.setattr(index.store.shutil, "disk_usage", lambda path: usage(10, 9, 2**20))
        with pytest.raises(StoreError, match=r"is full \(1.0 MB free\): free some space"):
            run(settings)
    kept = open_store(settings, EMBEDDER).manifest()
    assert 0 < len(kept) < 30

    report = run(settings)  # the space is back
    chunks = stored(settings)
    assert {c.id for c in chunks} == wanted and len(chunks) == len(wanted)
    assert report.files_unchanged == len(kept)


def test_a_looping_link_is_reported(corpus_settings, corpus):
    """#11: symlink loops went unreported."""
    (corpus / "loop-a.txt").symlink_to(corpus / "loop-b.txt")
    (corpus / "loop-b.txt").symlink_to(corpus / "loop-a.txt")
    report = run(corpus_settings)
    reasons = {p.source: p.reason for p in report.skipped}
    assert "looping link" in reasons["loop-a.txt"] and "looping link" in reasons["loop-b.txt"]


def test_a_no_op_ingest_reads_no_file_and_no_ids_and_a_change_costs_only_itself(
        corpus_settings, corpus, monkeypatch):
    """#13: a no-op re-ingest hashed every file and read every id."""
    from index.store import Store

    long_ago = time.time() - 3600
    for path in corpus.iterdir():
        os.utime(path, (long_ago, long_ago))  # older than the racy window of the record
    first = run(corpus_settings)
    real_read = Path.read_bytes
    read = []

    def counting_read(path):
        if path.is_relative_to(corpus.resolve()):  # an article, not the saved manifest
            read.append(path.name)
        return real_read(path)

    def no_full_scan(self):
        raise AssertionError("every id was read")

    monkeypatch.setattr(Path, "read_bytes", counting_read)
    monkeypatch.setattr(Store, "ids_by_source", no_full_scan)
    again = run(corpus_settings)
    assert read == [] and again.files_unchanged == 5
    assert again.chunks_unchanged == first.chunks_added

    edited = corpus / "001_d3167d0071582912.txt"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n\nA new closing line.\n",
                      encoding="utf-8")
    third = run(corpus_settings)
    assert read == [edited.name] and third.files_changed == 1 and third.files_unchanged == 4
    assert {c.id for c in stored(corpus_settings)} == expected_ids(corpus_settings)


def test_a_no_op_ingest_reads_the_saved_manifest_not_the_stores(tmp_path, corpus,
                                                                 monkeypatch):
    """#13: reading the manifest out of Chroma cost about 80 µs a file (7 s at 75k files)."""
    from index.store import Store

    settings = make_settings(tmp_path, corpus_dir=corpus, embedder="hash")
    first = ingest(settings, progress=False)
    with monkeypatch.context() as patch:
        patch.setattr(Store, "manifest_entries", lambda self: pytest.fail("read the store's"))
        again = ingest(settings, progress=False)
        assert again.files_unchanged == first.files_changed and again.chunks_added == 0
        (corpus / "extra.txt").write_text("Port reopens\n\nThe port reopened on Monday.\n")
        added = ingest(settings, progress=False)  # the saved copy follows the change
        assert added.files_changed == 1
        (corpus / "extra.txt").unlink()
        removed = ingest(settings, progress=False)
        assert removed.files_removed == 1
    rebuilt = ingest(settings, rebuild=True, progress=False)  # a fresh manifest, its own
    assert rebuilt.files_changed == first.files_changed
