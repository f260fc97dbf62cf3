"""Ingest benchmark: pipeline throughput against the bare ONNX model on the same chunks.

Over the BBC archive (../shared/corpora/bbc-news-2225.tar.gz, extracted to a temp dir)
or, when it is absent, a generated corpus. Prints chunks/s of `ingest` and of the raw
MiniLM embedding of the same chunk texts, their ratio (target >= 0.7), the same ratio in
CPU seconds (stable when other processes share the cores), peak RSS, store size on disk
and seconds.  Usage: python -m evals.bench_ingest [--limit N]
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BBC_ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "bbc-news-2225.tar.gz"
TARGET_RATIO = 0.7


def prepare_corpus(workdir: Path, report: Callable[[str], None]) -> Path:
    """The BBC articles in a temp dir, or a generated corpus when the archive is absent."""
    if BBC_ARCHIVE.is_file():
        with tarfile.open(BBC_ARCHIVE) as archive:
            archive.extractall(workdir, filter="data")
        corpus = workdir / "bbc"
        (corpus / "README.TXT").unlink(missing_ok=True)  # the dataset's readme, not an article
        report(f"corpus: BBC archive {BBC_ARCHIVE} (extracted to {corpus})")
        return corpus
    report(f"corpus: {BBC_ARCHIVE} is absent; using a generated corpus of 300 articles")
    return generate_corpus(workdir / "generated", 300)


def generate_corpus(target: Path, files: int, seed: int = 7) -> Path:
    """Plain-text articles of random but sentence-shaped text (for benchmarks and tests)."""
    rng = random.Random(seed)
    words = ["minister", "council", "market", "shares", "profit", "troops", "border", "talks", "election", "court", "players", "season", "league", "energy", "prices", "report", "officials", "agreed", "said", "would"]
    target.mkdir(parents=True, exist_ok=True)
    for n in range(files):
        sentences = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 20))).capitalize()
                     + "." for _ in range(rng.randint(10, 30))]
        body = "\n\n".join(" ".join(sentences[i:i + 3]) for i in range(0, len(sentences), 3))
        (target / f"article_{n:04d}.txt").write_text(f"Headline number {n}\n\n{body}\n")
    return target


def store_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KB


def run(report: Callable[[str], None] = print, limit: int | None = None) -> dict:
    """Runs the benchmark, reports lines through `report`, returns the figures."""
    from index.embedder import make_embedder
    from index.ingest import collect_files, ingest
    from index.store import open_store
    from rag.config import Settings

    workdir = Path(tempfile.mkdtemp(prefix="newsqa-bench-"))
    try:
        corpus = prepare_corpus(workdir, report)
        settings = Settings(_env_file=None, corpus_dir=corpus, store_dir=workdir / "store")
        files = collect_files([corpus])[:limit] if limit else None
        embedder = make_embedder(settings)  # loaded once, outside both timings
        import chromadb  # noqa: F401  (a one-off ~1.5 s import, not pipeline throughput)
        cpu = time.process_time()
        result = ingest(settings, paths=files, progress=True, embedder=embedder)
        ingest_cpu, ingest_rss = time.process_time() - cpu, peak_rss_mb()
        texts = [c.text for c in open_store(settings, embedder).all_chunks()]
        began, cpu = time.perf_counter(), time.process_time()
        embedder.embed(texts)
        raw_seconds, raw_cpu = time.perf_counter() - began, time.process_time() - cpu
        figures = _figures(result, len(texts), raw_seconds, ingest_rss, workdir / "store")
        figures["cpu_ratio"] = round(raw_cpu / len(texts) / (ingest_cpu / result.chunks_added), 3)
        _print(figures, result, report)
        return figures
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _figures(result, chunks: int, raw_seconds: float, ingest_rss: float, store: Path) -> dict:
    ingest_rate = result.chunks_added / result.seconds
    raw_rate = chunks / raw_seconds
    return {
        "files": result.files, "articles": result.articles, "chunks": result.chunks_added,
        "ingest_seconds": round(result.seconds, 1), "ingest_chunks_per_s": round(ingest_rate, 1),
        "raw_seconds": round(raw_seconds, 1), "raw_chunks_per_s": round(raw_rate, 1),
        "ratio": round(ingest_rate / raw_rate, 3), "peak_rss_mb_ingest": round(ingest_rss),
        "peak_rss_mb": round(peak_rss_mb()), "store_mb": round(store_size(store) / 2**20, 1),
    }


def _print(figures: dict, result, report: Callable[[str], None]) -> None:
    report(result.summary())
    report("")
    report(f"ingest      {figures['ingest_chunks_per_s']:8.1f} chunks/s "
           f"({figures['chunks']} chunks in {figures['ingest_seconds']} s)")
    report(f"raw ONNX    {figures['raw_chunks_per_s']:8.1f} chunks/s "
           f"(same texts in {figures['raw_seconds']} s)")
    verdict = "ok" if figures["ratio"] >= TARGET_RATIO else "BELOW TARGET"
    report(f"ratio       {figures['ratio']:8.3f} (target >= {TARGET_RATIO}: {verdict})")
    report(f"CPU ratio   {figures['cpu_ratio']:8.3f} (model CPU-s per chunk / ingest CPU-s per "
           "chunk: the same ratio, insensitive to other load on the machine)")
    report(f"peak RSS    {figures['peak_rss_mb_ingest']:8d} MB after ingest, "
           f"{figures['peak_rss_mb']} MB overall")
    report(f"store size  {figures['store_mb']:8.1f} MB on disk")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N files")
    args = parser.parse_args()
    run(print, limit=args.limit)


if __name__ == "__main__":
    main()
