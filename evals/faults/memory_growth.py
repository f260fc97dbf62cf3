"""Does a serving engine's memory level off? Asks many distinct questions and prints the
process's RSS every `--every` requests.

    python -m evals.faults.memory_growth [--requests 3000] [--every 250] [--bbc]

Questions are the suites' questions with a varying tail ("... (take 17)"), so every one is
new to the caches (each cache is bounded: 20,000 analyses and 20,000 sentence vectors).
"""

from __future__ import annotations

import argparse
import itertools

import psutil

from evals.suite import load_suite
from rag.config import Settings


def run(requests: int, every: int, bbc: bool) -> list[tuple[int, float]]:
    from rag.ask import Engine

    settings = Settings()
    names = ["seeds", "seeds-casual"]
    if bbc:
        from evals import bbc as archive

        settings = archive.eval_settings(settings)
        names = ["bbc-dev"]
    questions = [c.questions[-1] for name in names for c in load_suite(name).cases]
    engine = Engine(settings)
    process, samples = psutil.Process(), []
    for number, question in enumerate(itertools.cycle(questions), start=1):
        engine.ask(f"{question} (take {number // len(questions)})")
        if number % every == 0:
            samples.append((number, process.memory_info().rss / 2**20))
            print(f"{number:6d} requests: RSS {samples[-1][1]:7.0f} MB", flush=True)
        if number >= requests:
            return samples
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--every", type=int, default=250)
    parser.add_argument("--bbc", action="store_true", help="Over the BBC archive (bbc-dev).")
    args = parser.parse_args()
    run(args.requests, args.every, args.bbc)


if __name__ == "__main__":
    main()
