"""Answering benchmark: warm ask() latency, hybrid retrieval against a brute-force baseline,
the same at BBC-archive scale, and the cold start of `newsqa ask` to its first answer.

Baseline = embed the query + numpy top-k over the same stored vectors (targets: extractive
p50 <= 150 ms; retrieval / baseline <= 2).
Usage: python -m evals.bench_ask [--no-bbc] [--store DIR] (DIR keeps the corpora and stores
between runs, so a second run skips the BBC ingest: ingest is incremental)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "data" / "articles"
QUESTIONS = [
    "When was Assad's government overthrown?",
    "How many American troops died in the Palmyra attack?",
    "Who is Syria's foreign minister?",
    "How many artillery shells were seized?",
    "How many IS attacks were there in Syria this year?",
    "Who commands CENTCOM?",
    "How many people have fled their homes in Aleppo?",
    "Who is the Pentagon press secretary?",
    "What did Turkey's foreign minister say about Aleppo?",
    "When did Al-Sharaa visit Washington?",
    "Why did the US carry out airstrikes near the Iraq-Syria border?",
    "How many ISIS fighters were killed in the Palmyra attack?",
    "What is the capital of Australia?",
    "Who won the 2022 FIFA World Cup?",
]
BBC_QUESTIONS = [
    "What did the chancellor say about economic growth?",
    "Who won the Australian Open?",
    "How many jobs will the company cut?",
    "When will the new games console go on sale?",
    "What did the Prime Minister say about the election date?",
    "How much did the film take at the box office?",
]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def timed(function: Callable, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return (time.perf_counter() - started) * 1000.0, result


def brute_force(embedder, matrix: np.ndarray, query: str, k: int) -> np.ndarray:
    scores = matrix @ embedder.embed_queries([query])[0]
    top = np.argpartition(-scores, min(k, len(scores) - 1))[:k]
    return top[np.argsort(-scores[top])]


def measure_engine(engine, questions: list[str], rounds: int) -> dict:
    """ask() latencies (first pass and all passes) and retrieval vs brute force, per query."""
    engine.ask(questions[0])  # warm-up: model sessions, BM25, first Chroma query
    first, every = [], []
    for round_number in range(rounds):
        for question in questions:
            ms, _ = timed(engine.ask, question)
            every.append(ms)
            if round_number == 0:
                first.append(ms)
    _, matrix = engine.store.all_vectors()
    k = engine.settings.top_k
    retrieval = [timed(engine.retrieve, q, k)[0] for q in questions * rounds]
    baseline = [timed(brute_force, engine.embedder, matrix, q, k)[0] for q in questions * rounds]
    return {
        "chunks": len(matrix),
        "ask_first_p50": percentile(first, 50), "ask_first_p95": percentile(first, 95),
        "ask_p50": percentile(every, 50), "ask_p95": percentile(every, 95),
        "retrieval_p50": percentile(retrieval, 50), "retrieval_p95": percentile(retrieval, 95),
        "baseline_p50": percentile(baseline, 50), "baseline_p95": percentile(baseline, 95),
        "ratio": percentile(retrieval, 50) / percentile(baseline, 50),
    }


def build_engine(corpus: Path, store: Path, report: Callable[[str], None]):
    from index.ingest import ingest
    from rag.ask import Engine
    from rag.config import Settings

    settings = Settings(_env_file=None, corpus_dir=corpus, store_dir=store, llm="extractive")
    ms, ingested = timed(ingest, settings, progress=False)
    report(f"  ingest: {ingested.summary().splitlines()[0]} ({ms / 1000:.1f} s)")
    return Engine(settings)


def cold_start(store: Path, runs: int = 3) -> list[float]:
    """Seconds for `newsqa ask` in a new process to print its first answer (index exists)."""
    env = dict(os.environ, NEWSQA_CORPUS_DIR=str(BUNDLED), NEWSQA_STORE_DIR=str(store),
               NEWSQA_LLM="extractive")
    newsqa = Path(sys.executable).with_name("newsqa")
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([str(newsqa), "ask", QUESTIONS[0]], env=env, check=True,
                       capture_output=True, cwd=tempfile.gettempdir())
        seconds.append(time.perf_counter() - started)
    return seconds


def report_figures(label: str, figures: dict, report: Callable[[str], None]) -> None:
    report(f"  {label}: {figures['chunks']} chunks")
    report(f"  ask() warm, first time per question: p50 {figures['ask_first_p50']:.1f} ms, "
           f"p95 {figures['ask_first_p95']:.1f} ms")
    report(f"  ask() warm, all rounds:              p50 {figures['ask_p50']:.1f} ms, "
           f"p95 {figures['ask_p95']:.1f} ms (target p50 <= 150 ms)")
    report(f"  hybrid retrieval: p50 {figures['retrieval_p50']:.1f} ms, p95 "
           f"{figures['retrieval_p95']:.1f} ms | embed + numpy top-k: p50 "
           f"{figures['baseline_p50']:.1f} ms, p95 {figures['baseline_p95']:.1f} ms | ratio "
           f"{figures['ratio']:.2f} (target <= 2)")


def run(report: Callable[[str], None] = print, bbc: bool = True, rounds: int = 3,
        store: Path | None = None) -> dict:
    """Runs every part, reports lines through `report`, returns the figures. With `store`,
    corpora and indexes live there and are reused by the next run (else a temp dir)."""
    from evals.bench_ingest import BBC_ARCHIVE

    results: dict = {}
    workdir = nullcontext(str(store)) if store else tempfile.TemporaryDirectory(
        prefix="newsqa-bench-ask-")
    with workdir as tmp:
        report("bundled corpus (data/articles):")
        engine = build_engine(BUNDLED, Path(tmp) / "bundled", report)
        results["bundled"] = measure_engine(engine, QUESTIONS, rounds)
        report_figures("bundled", results["bundled"], report)
        results["cold_start_s"] = cold_start(Path(tmp) / "bundled")
        report(f"  cold start `newsqa ask` to first answer: median "
               f"{statistics.median(results['cold_start_s']):.2f} s over "
               f"{len(results['cold_start_s'])} runs (index already built)")
        if bbc and BBC_ARCHIVE.is_file():
            report("BBC archive scale:")
            corpus = reused_corpus(Path(tmp) / "bbc-src", report)
            engine = build_engine(corpus, Path(tmp) / "bbc", report)
            results["bbc"] = measure_engine(engine, BBC_QUESTIONS, rounds)
            report_figures("bbc", results["bbc"], report)
        elif bbc:
            report(f"BBC archive scale: skipped, {BBC_ARCHIVE} is absent")
    return results


def reused_corpus(workdir: Path, report: Callable[[str], None]) -> Path:
    """The BBC corpus extracted under `workdir`, extracting it only when not there yet."""
    from evals.bench_ingest import prepare_corpus

    if (workdir / "bbc").is_dir():
        report(f"corpus: reusing {workdir / 'bbc'}")
        return workdir / "bbc"
    return prepare_corpus(workdir, report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-bbc", action="store_true", help="Skip the BBC-scale part.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", type=Path, default=None,
                        help="Keep corpora and indexes in this dir and reuse them next run.")
    args = parser.parse_args()
    import logging

    logging.basicConfig(level="WARNING")
    if args.store:
        args.store.mkdir(parents=True, exist_ok=True)
    run(bbc=not args.no_bbc, rounds=args.rounds, store=args.store)


if __name__ == "__main__":
    main()
