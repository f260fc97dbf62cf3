"""Serve while another process ingests: 20 users ask without pause while `newsqa ingest`
(one file edited, one removed) and then `newsqa ingest --rebuild` run in other processes.

    python -m evals.faults.serve_during_ingest [--corpus DIR] [--users 20] [--embedder hash]

Prints the requests served and failed in each phase with their waits (p95 and max), and
the seconds from the end of each ingest until answers reflect it (the edited file's new
sentence is retrieved; after the rebuild, the engine holds the new collection and every
chunk of it). The engine is the one the chat page serves from, driven by threads instead
of browsers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "data" / "articles"
QUESTIONS = ["What did CENTCOM report?", "Who is Tom Barrack?", "What happened in Idlib?",
             "Where are the Kurdish forces?", "Which militia groups did the US strike?",
             "What's going on in Syria?"]
MARKER = "Zanzibarite inspectors counted 4,321 crates at the port on Tuesday."


class Load:
    """`users` threads asking in a loop; counts outcomes per phase."""

    def __init__(self, engine, users: int) -> None:
        self.engine, self.phase = engine, "before"
        self.outcomes: Counter = Counter()
        self.errors: Counter = Counter()
        self.seconds: dict[str, list[float]] = {}  # per phase: each request's wait
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._user, args=(n,), daemon=True)
                        for n in range(users)]

    def _user(self, number: int) -> None:
        turn = number
        while not self.stop.is_set():
            phase, began = self.phase, time.monotonic()
            try:
                self.engine.ask(QUESTIONS[turn % len(QUESTIONS)])
                self.outcomes[phase, "ok"] += 1
                self.seconds.setdefault(phase, []).append(time.monotonic() - began)
            except Exception as error:  # noqa: BLE001  (the measurement: any failure at all)
                self.outcomes[phase, "failed"] += 1
                self.errors[f"{type(error).__name__}: {error}"[:160]] += 1
            turn += 1

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def seconds_until(condition, timeout: float = 120.0) -> float | None:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if condition():
            return round(time.monotonic() - began, 2)
        time.sleep(0.1)
    return None


def run(corpus: Path, users: int, embedder: str) -> dict:
    from rag.ask import Engine
    from rag.config import Settings

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        shutil.copytree(corpus, work / "corpus")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSQA_", "OPENAI_"))}
        env |= {"NEWSQA_CORPUS_DIR": str(work / "corpus"), "NEWSQA_STORE_DIR": str(work / "store"),
                "NEWSQA_EMBEDDER": embedder, "PYTHONPATH": str(ROOT)}

        def ingest(*flags: str) -> None:
            subprocess.run([sys.executable, "-m", "rag.cli", "ingest", *flags], env=env,
                           cwd=work, check=True, capture_output=True)

        ingest()
        engine = Engine(Settings(_env_file=None, corpus_dir=work / "corpus",
                                 store_dir=work / "store", embedder=embedder))
        files = sorted(p for p in (work / "corpus").rglob("*") if p.is_file())
        result: dict = {}
        with Load(engine, users) as load:
            time.sleep(3)
            load.phase = "ingest"
            files[0].unlink()
            files[1].write_text(files[1].read_text(encoding="utf-8") + "\n\n" + MARKER + "\n",
                                encoding="utf-8")
            ingest()
            load.phase = "after ingest"
            result["ingest: seconds until answers reflect it"] = seconds_until(
                lambda: any(MARKER in h.chunk.text
                            for h in engine.retrieve("Zanzibarite inspectors crates", 3).hits))
            time.sleep(2)
            load.phase = "rebuild"
            held = engine.store.collection.name
            ingest("--rebuild")
            load.phase = "after rebuild"
            result["rebuild: seconds until answers reflect it"] = seconds_until(
                lambda: (store := engine.store) is not None and store.collection.name != held
                and len(engine.retriever.lexical.chunks) == store.count())
            time.sleep(3)
        result["requests"] = dict(load.outcomes)
        result["seconds"] = load.seconds
        result["errors"] = dict(load.errors)
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=BUNDLED)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--embedder", default="minilm", choices=("minilm", "hash"))
    args = parser.parse_args(argv)
    result = run(args.corpus, args.users, args.embedder)
    phases = ("before", "ingest", "after ingest", "rebuild", "after rebuild")
    for phase in phases:
        ok, failed = (result["requests"].get((phase, o), 0) for o in ("ok", "failed"))
        waits = sorted(result["seconds"].get(phase, [0.0]))
        p95 = waits[int(0.95 * (len(waits) - 1))]
        print(f"{phase:>14}: {ok + failed:5d} requests, {failed} failed, wait p95 {p95:.2f} s, "
              f"max {waits[-1]:.2f} s")
    for key in ("ingest: seconds until answers reflect it",
                "rebuild: seconds until answers reflect it"):
        print(f"{key}: {result[key]}")
    for error, count in result["errors"].items():
        print(f"  {count} x {error}")
    failed = sum(n for (_, o), n in result["requests"].items() if o == "failed")
    return 0 if failed == 0 and None not in (result[k] for k in result if "seconds" in k) else 1


if __name__ == "__main__":
    sys.exit(main())
