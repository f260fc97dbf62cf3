"""How costs grow with the archive: the BBC archive copied N times (each copy in its own
folder, so every id is new, with its titles tagged and 3% of its words dropped, so every
text is new), grown copy by copy in one store.

    python -m evals.bench_scale [--sizes 1,2,4,8,16,34] [--server] [--vectors 0] [--out DIR]

At each size a fresh process measures, for the embedded store (and with --server, for the
same data served by `chroma run` through HttpClient): cold start of `newsqa ask` to its
answer; warm `ask()` p50/p95 over bbc-dev questions asked the first time; retrieval alone,
unfiltered and filtered to one source, beside the brute-force baseline (the query embedded,
then one numpy product over every vector); the first ask after another process ingested
one file; a no-op re-ingest; a one-file change given by its path, and one found by walking
the corpus; RSS and store size. `--vectors N` adds a
store-only run: synthetic unit vectors in a bare Chroma collection up to N, its query time
beside numpy's over the same vectors, its RSS and disk.

The hash embedder (default) keeps the run short: it measures what grows with the archive
(store, BM25, ingest bookkeeping), not the embedding model, whose cost per chunk does not.
Writes scale.png.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from evals import bbc
from evals.suite import load_suite
from rag.config import Settings

ROOT = Path(__file__).resolve().parents[1]
CHROMA = Path(sys.executable).with_name("chroma")
QUESTIONS = 20
DROPPED = 0.03  # share of a copy's words left out: light perturbation, so no text repeats


def copy_archive(source: Path, target: Path, copy: int) -> int:
    """Copy number `copy` of the archive under `target`; returns its number of files."""
    count, written_long_ago = 0, time.time() - 3600  # an archive's files are not brand new
    for path in sorted(source.glob("*/*.txt")):
        out = target / f"copy{copy}" / path.parent.name / path.name
        out.parent.mkdir(parents=True, exist_ok=True)
        title, _, body = path.read_text(encoding="utf-8", errors="replace").partition("\n")
        if copy:
            rng = random.Random(f"{copy}/{path.parent.name}/{path.name}")
            body = "\n".join(" ".join(w for w in line.split(" ") if rng.random() >= DROPPED)
                             for line in body.split("\n"))
        out.write_text(f"{title} (copy {copy})\n{body}", encoding="utf-8")
        os.utime(out, (written_long_ago, written_long_ago))
        count += 1
    return count


def folder_size(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def percentile(values: list[float], share: float) -> float:
    return sorted(values)[int(share * (len(values) - 1))]


def timed(call) -> float:
    began = time.perf_counter()
    call()
    return (time.perf_counter() - began) * 1000


def environment(settings: Settings) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSQA_")}
    env |= {"NEWSQA_CORPUS_DIR": str(settings.corpus_dir),
            "NEWSQA_STORE_DIR": str(settings.store_dir), "NEWSQA_EMBEDDER": settings.embedder,
            "NEWSQA_CACHE_DIR": str(settings.cache_dir), "PYTHONPATH": str(ROOT)}
    if settings.chroma_host:
        env |= {"NEWSQA_CHROMA_HOST": settings.chroma_host,
                "NEWSQA_CHROMA_PORT": str(settings.chroma_port)}
    return env


def cli(settings: Settings, *args: str) -> float:
    """Seconds a `newsqa` command takes in a process of its own."""
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rag.cli", *args], env=environment(settings),
                   check=True, capture_output=True)
    return time.perf_counter() - began


def brute_force(engine, questions: list[str]) -> list[float]:
    """The baseline: each question embedded, then one product over every stored vector."""
    store = engine.retriever.store
    _, vectors = store.all_vectors()
    times = []
    for question in questions:
        began = time.perf_counter()
        query = engine.embedder.embed_queries([question])[0]
        scores = vectors @ query
        np.argpartition(-scores, 20)[:20]
        times.append((time.perf_counter() - began) * 1000)
    return times


def measure(settings: Settings) -> dict:
    """One size, in this process: everything the module docstring lists but the growth."""
    from index.ingest import ingest
    from rag.ask import Engine
    from rag.retrieve import REFRESH_SECONDS
    from rag.types import Filters

    logging.basicConfig(level="WARNING")
    cold_s = cli(settings, "ask", "Who won the election?")
    began = time.perf_counter()
    engine = Engine(settings)
    start_s = time.perf_counter() - began
    cases = load_suite("bbc-dev").cases
    questions = [c.questions[-1] for c in cases][:QUESTIONS]
    asks = [timed(lambda q=q: engine.ask(q)) for q in questions]
    retrievals = [timed(lambda q=q: engine.retrieve(q)) for q in questions]
    sources = sorted({c.source for c in engine.retriever.lexical.chunks})
    one_source = Filters(sources=[random.Random(0).choice(sources)])
    filtered = [timed(lambda q=q: engine.retrieve(q, filters=one_source)) for q in questions]
    # (Through a server, the baseline would first pull every vector over HTTP: skipped.)
    baseline = [] if settings.chroma_host else brute_force(engine, questions)
    # What the MiniLM model adds to every query (the hash embedder's is ~0): the same on
    # both sides of the retrieval / baseline ratio, at any archive size.
    from index.embedder import make_embedder

    minilm = make_embedder(settings.model_copy(update={"embedder": "minilm"}))
    minilm.embed(["warm up"])
    minilm_ms = [timed(lambda q=q: minilm.embed([q])) for q in questions]
    rss_mb = psutil.Process().memory_info().rss / 2**20

    # Another process ingests one file; the first question after it, against the others.
    extra = Path(settings.corpus_dir) / "copy0" / "extra.txt"
    extra.write_text("Extra story\n\nThe council met on Monday to discuss the budget.\n")
    cli(settings, "ingest")
    time.sleep(REFRESH_SECONDS + 0.1)
    later = [c.questions[-1] for c in cases][QUESTIONS:QUESTIONS + 5]
    after_ingest = timed(lambda: engine.ask(later[0]))
    others = [timed(lambda q=q: engine.ask(q)) for q in later[1:]]
    engine.retriever.store.close()

    noop_s = timed(lambda: ingest(settings, progress=False)) / 1000
    extra.unlink()  # one file out, given by its path (as the Library does): no walk
    one_s = timed(lambda: ingest(settings, paths=[extra], progress=False)) / 1000
    extra.write_text("Extra story\n\nThe council met on Tuesday to discuss the budget.\n")
    walk_s = timed(lambda: ingest(settings, progress=False)) / 1000  # found by a walk
    extra.unlink()
    ingest(settings, paths=[extra], progress=False)
    return {"cold_s": cold_s, "start_s": start_s, "ask_p50": statistics.median(asks),
            "ask_p95": percentile(asks, 0.95), "retrieval_p50": statistics.median(retrievals),
            "filtered_p50": statistics.median(filtered),
            "baseline_p50": statistics.median(baseline) if baseline else None,
            "minilm_embed_p50": statistics.median(minilm_ms),
            "after_ingest_ms": after_ingest, "others_ms": statistics.median(others),
            "noop_s": noop_s, "one_file_s": one_s, "one_file_walk_s": walk_s,
            "rss_mb": rss_mb}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def chroma_server(path: Path):
    """`chroma run` over the embedded store's folder, on a free loopback port."""
    port = free_port()
    server = subprocess.Popen([str(CHROMA), "run", "--path", str(path), "--host",
                               "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.3)
        yield port, server
    finally:
        server.terminate()
        server.wait(timeout=30)


def in_own_process(settings: Settings, server_port: int | None = None) -> dict:
    args = [sys.executable, "-m", "evals.bench_scale", "--measure", str(settings.corpus_dir),
            "--store", str(settings.store_dir), "--cache", str(settings.cache_dir)]
    if server_port:
        args += ["--port", str(server_port)]
    done = subprocess.run(args, check=False, capture_output=True, text=True, cwd=ROOT)
    if done.returncode:  # said, and the run goes on: the sizes measured so far stay
        print(f"measuring {settings.corpus_dir} failed:\n{done.stderr[-3000:]}", flush=True)
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def grow(sizes: list[int], server: bool, scratch: Path) -> list[dict]:
    from index.embedder import HashEmbedder
    from index.ingest import ingest
    from index.store import lexical_root, open_store

    logging.basicConfig(level="WARNING")
    corpus, store, cache = scratch / "corpus", scratch / "store", scratch / "cache"
    settings = Settings(_env_file=None, corpus_dir=corpus, store_dir=store, cache_dir=cache,
                        embedder="hash")
    source = bbc.prepare_corpus(Settings(_env_file=None))
    rows, files, copies = [], 0, 0
    for times in sizes:
        while copies < times:
            files += copy_archive(source, corpus, copies)
            copies += 1
        began = time.perf_counter()
        report = ingest(settings, progress=False)
        grown_s = time.perf_counter() - began
        store_now = open_store(settings, HashEmbedder())
        chunks = store_now.count()
        store_now.close()
        row = {"times": times, "files": files, "chunks": chunks,
               "ingest_per_1k_s": grown_s / max(report.chunks_added, 1) * 1000}
        row |= in_own_process(settings)
        row["store_mb"] = folder_size(store)
        if server:
            with chroma_server(store) as (port, _):
                served = settings.model_copy(update={"chroma_host": "127.0.0.1",
                                                     "chroma_port": port})
                # The writer's saved lexical index, where a process on the server's host
                # looks for it: a reader elsewhere builds it once per generation.
                target = lexical_root(served)
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(lexical_root(settings), target)
                row["server"] = in_own_process(served, port)
                # ...and back: the server's ingests published generations of their own.
                shutil.rmtree(lexical_root(settings), ignore_errors=True)
                shutil.copytree(target, lexical_root(settings))
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def store_only(limit: int, scratch: Path) -> list[dict]:
    """Synthetic unit vectors in a bare embedded Chroma collection, doubling up to `limit`:
    its query time beside numpy's brute force over the same vectors, RSS and disk."""
    import chromadb

    client = chromadb.PersistentClient(path=str(scratch / "vectors"))
    collection = client.create_collection("synthetic", metadata={"hnsw:space": "cosine"})
    rng = np.random.default_rng(0)
    held = np.empty((limit, 384), dtype=np.float32)  # numpy's copy, for the baseline
    rows, size, stored = [], 62_500, 0
    while size <= limit:
        began = time.perf_counter()
        for start in range(stored, size, 5000):
            block = rng.standard_normal((min(5000, size - start), 384)).astype(np.float32)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            collection.add(ids=[str(start + i) for i in range(len(block))],
                           embeddings=block)
            held[start:start + len(block)] = block
        stored = size
        add_s = time.perf_counter() - began
        queries = rng.standard_normal((30, 384)).astype(np.float32)
        store_ms = [timed(lambda q=q: collection.query(query_embeddings=[q], n_results=20,
                                                       include=["distances"]))
                    for q in queries]
        vectors = held[:size]
        numpy_ms = [timed(lambda q=q, v=vectors: np.argpartition(-(v @ q), 20)[:20])
                    for q in queries]
        row = {"vectors": size, "add_s": add_s, "query_p50": statistics.median(store_ms[5:]),
               "numpy_p50": statistics.median(numpy_ms),
               # the process's RSS less numpy's copy of the vectors: Chroma's share
               "rss_mb": (psutil.Process().memory_info().rss - vectors.nbytes) / 2**20,
               "disk_mb": folder_size(scratch / "vectors")}
        rows.append(row)
        print(json.dumps(row), flush=True)
        size *= 2
    return rows


def plot(rows: list[dict], vectors: list[dict], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if "error" not in r]  # a failed size is in the log, not drawn
    served = all("server" in r and "error" not in r["server"] for r in rows)
    chunks = [r["chunks"] for r in rows]
    figure, axes = plt.subplots(1, 4 if vectors else 3, figsize=(17 if vectors else 13, 3.8))
    for key, label in (("ask_p50", "ask() p50 ms"), ("retrieval_p50", "retrieval p50 ms"),
                       ("filtered_p50", "filtered retrieval p50 ms"),
                       ("baseline_p50", "embed + numpy baseline ms")):
        axes[0].plot(chunks, [r[key] for r in rows], marker="o", label=label)
    if served:
        axes[0].plot(chunks, [r["server"]["retrieval_p50"] for r in rows], marker="x",
                     linestyle="--", label="retrieval via chroma run ms")
    for key, label in (("cold_s", "cold start s"), ("noop_s", "no-op ingest s"),
                       ("one_file_walk_s", "one-file ingest, corpus walked s"),
                       ("one_file_s", "one-file ingest by path s")):
        if all(key in r for r in rows):  # runs before by-path ingests lack one
            axes[1].plot(chunks, [r[key] for r in rows], marker="o", label=label)
    if served:
        axes[1].plot(chunks, [r["server"]["cold_s"] for r in rows], marker="x",
                     linestyle="--", label="cold start via chroma run s")
    for key, label in (("rss_mb", "serving RSS MB"), ("store_mb", "store MB")):
        axes[2].plot(chunks, [r[key] for r in rows], marker="o", label=label)
    if vectors:
        counts = [v["vectors"] for v in vectors]
        axes[3].plot(counts, [v["query_p50"] for v in vectors], marker="o",
                     label="Chroma query p50 ms")
        axes[3].plot(counts, [v["numpy_p50"] for v in vectors], marker="o",
                     label="numpy brute force ms")
        axes[3].set_xlabel("vectors (store only)")
    for ax in axes[:3]:
        ax.set_xlabel("chunks")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    figure.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    figure.savefig(out / "scale.png", dpi=110)
    return out / "scale.png"


def run(sizes: list[int], server: bool, vectors: int, out: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="newsqa-scale-") as scratch:
        rows = grow(sizes, server, Path(scratch))
    with tempfile.TemporaryDirectory(prefix="newsqa-vectors-") as scratch:
        synthetic = store_only(vectors, Path(scratch)) if vectors else []
    result = {"sizes": rows, "vectors": synthetic}
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.json").write_text(json.dumps(result, indent=1))
    print(f"curves: {plot(rows, synthetic, out)}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,2,4")
    parser.add_argument("--server", action="store_true", help="also measure via chroma run")
    parser.add_argument("--vectors", type=int, default=0, help="store-only run up to N")
    parser.add_argument("--out", type=Path, default=ROOT / "evals" / "figures")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # one size, as JSON
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        settings = Settings(_env_file=None, corpus_dir=args.measure, store_dir=args.store,
                            cache_dir=args.cache, embedder="hash",
                            chroma_host="127.0.0.1" if args.port else None,
                            chroma_port=args.port or 8000)
        print(json.dumps(measure(settings)))
        return
    run([int(n) for n in args.sizes.split(",")], args.server, args.vectors, args.out)


if __name__ == "__main__":
    main()
