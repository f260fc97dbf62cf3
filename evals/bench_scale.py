"""How costs grow with the archive: the BBC archive copied N times (each copy in its own
folder, its titles tagged, so every chunk is new), indexed into a fresh embedded store.

    python -m evals.bench_scale [--sizes 1,2,4] [--embedder hash|minilm] [--out DIR]

At each size: ingest time, store size on disk, cold start of `newsqa ask` to its answer,
warm `ask()` p50/p95 over bbc-dev questions asked the first time, retrieval alone, a no-op
re-ingest, a one-file ingest, and the serving process's RSS. The hash embedder (default)
keeps the run short: it measures what grows with the archive (store, BM25, ingest
bookkeeping), not the embedding model, whose cost per chunk does not. Writes scale.png.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from evals import bbc
from evals.suite import load_suite
from rag.config import Settings

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = 20


def copies(source: Path, target: Path, times: int) -> int:
    """The archive `times` over under `target`; returns the number of files."""
    count, written_long_ago = 0, time.time() - 3600  # an archive's files are not brand new
    for copy in range(times):
        for path in sorted(source.glob("*/*.txt")):
            out = target / f"copy{copy}" / path.parent.name / path.name
            out.parent.mkdir(parents=True, exist_ok=True)
            title, _, body = path.read_bytes().partition(b"\n")
            out.write_bytes(title + f" (copy {copy})".encode() + b"\n" + body)
            os.utime(out, (written_long_ago, written_long_ago))
            count += 1
    return count


def folder_size(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def measure(times: int, embedder: str, scratch: Path) -> dict:
    from index.ingest import ingest
    from rag.ask import Engine

    logging.basicConfig(level="WARNING")
    corpus, store = scratch / f"corpus-{times}", scratch / f"store-{times}"
    files = copies(bbc.prepare_corpus(Settings(_env_file=None)), corpus, times)
    settings = Settings(_env_file=None, corpus_dir=corpus, store_dir=store, embedder=embedder)
    began = time.perf_counter()
    report = ingest(settings, progress=False)
    ingest_s = time.perf_counter() - began
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSQA_")}
    env |= {"NEWSQA_CORPUS_DIR": str(corpus), "NEWSQA_STORE_DIR": str(store),
            "NEWSQA_EMBEDDER": embedder, "PYTHONPATH": str(ROOT)}
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rag.cli", "ask", "Who won the election?"], env=env,
                   check=True, capture_output=True)
    cold_s = time.perf_counter() - began
    engine = Engine(settings)
    questions = [c.questions[-1] for c in load_suite("bbc-dev").cases][:QUESTIONS]
    asks, retrievals = [], []
    for question in questions:
        began = time.perf_counter()
        engine.ask(question)
        asks.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        engine.retrieve(question)
        retrievals.append((time.perf_counter() - began) * 1000)
    began = time.perf_counter()
    ingest(settings, progress=False)
    noop_s = time.perf_counter() - began
    (corpus / "copy0" / "extra.txt").write_text("Extra story\n\nThe council met on Monday.")
    began = time.perf_counter()
    ingest(settings, progress=False)
    one_s = time.perf_counter() - began
    return {"times": times, "files": files, "chunks": report.chunks_added,
            "ingest_s": ingest_s, "store_mb": folder_size(store), "cold_s": cold_s,
            "ask_p50": statistics.median(asks), "ask_p95": sorted(asks)[int(0.95 * (len(asks) - 1))],
            "retrieval_p50": statistics.median(retrievals), "noop_s": noop_s, "one_file_s": one_s,
            "rss_mb": psutil.Process().memory_info().rss / 2**20}


def plot(rows: list[dict], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chunks = [r["chunks"] for r in rows]
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for key, label in (("ask_p50", "ask() p50 ms"), ("retrieval_p50", "retrieval p50 ms")):
        axes[0].plot(chunks, [r[key] for r in rows], marker="o", label=label)
    for key, label in (("cold_s", "cold start s"), ("noop_s", "no-op ingest s"),
                       ("one_file_s", "one-file ingest s")):
        axes[1].plot(chunks, [r[key] for r in rows], marker="o", label=label)
    for key, label in (("rss_mb", "serving RSS MB"), ("store_mb", "store MB")):
        axes[2].plot(chunks, [r[key] for r in rows], marker="o", label=label)
    for ax in axes:
        ax.set_xlabel("chunks")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    figure.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    figure.savefig(out / "scale.png", dpi=110)
    return out / "scale.png"


def run(sizes: list[int], embedder: str, out: Path) -> list[dict]:
    rows = []
    print(f"{'copies':>6} {'files':>6} {'chunks':>7} {'ingest s':>8} {'store MB':>8} "
          f"{'cold s':>6} {'ask p50':>7} {'p95':>6} {'retr p50':>8} {'no-op s':>7} "
          f"{'1 file s':>8} {'RSS MB':>6}")
    with tempfile.TemporaryDirectory(prefix="newsqa-scale-") as scratch:
        for times in sizes:  # each size in a process of its own: RSS is that size's
            done = subprocess.run([sys.executable, "-m", "evals.bench_scale", "--one",
                                   str(times), "--embedder", embedder, "--scratch", scratch],
                                  check=True, capture_output=True, text=True, cwd=ROOT)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{row['times']:6d} {row['files']:6d} {row['chunks']:7d} {row['ingest_s']:8.1f} "
                  f"{row['store_mb']:8.1f} {row['cold_s']:6.1f} {row['ask_p50']:7.1f} "
                  f"{row['ask_p95']:6.1f} {row['retrieval_p50']:8.1f} {row['noop_s']:7.2f} "
                  f"{row['one_file_s']:8.2f} {row['rss_mb']:6.0f}", flush=True)
            shutil.rmtree(Path(scratch) / f"corpus-{times}", ignore_errors=True)
            shutil.rmtree(Path(scratch) / f"store-{times}", ignore_errors=True)
    print(f"curves: {plot(rows, out)}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,2,4")
    parser.add_argument("--embedder", default="hash", choices=("hash", "minilm"))
    parser.add_argument("--out", type=Path, default=ROOT / "evals" / "figures")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # one size, as JSON
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.embedder, args.scratch)))
        return
    run([int(n) for n in args.sizes.split(",")], args.embedder, args.out)


if __name__ == "__main__":
    main()
