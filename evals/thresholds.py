"""Set a suite's thresholds from a measured run: each overall figure floored to two decimals,
minus a margin of 0.02, citation validity always 1.0, p95 latency at most 3 s (for an LLM
backend: half as much again as measured, in whole seconds).

    python -m evals.thresholds reports/eval/results.json bbc-test [--first]

The run's backend decides where they go: the top level for extractive, `backends.<name>`
for an LLM backend (local, openai), whose gates are its own.

This is how a test suite gets its gate: from its first honest run (`--first`), then raised as
the system improves. Without `--first` an existing threshold is only ever raised, never
lowered: lowering a gate is a decision to write down, not a script's side effect.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from evals.suite import load_suite, thresholds_path

GATED = (
    "hit_at_k", "mrr", "correctness", "answerable_correctness", "citation_precision",
    "citation_recall", "gold_cited", "support", "refusal_precision", "refusal_recall",
)
MARGIN = 0.02
MAX_P95_MS = 3000


def from_summary(overall: dict[str, float | None], llm: bool = False) -> dict:
    """Thresholds for a suite whose overall figures are `overall`."""
    minimums = {"overall.citation_validity": 1.0}
    for metric in GATED:
        value = overall.get(metric)
        if value is not None:
            minimums[f"overall.{metric}"] = round(max(0.0, math.floor(round(value * 100, 6)) / 100 - MARGIN), 2)
    p95 = MAX_P95_MS
    if llm:
        p95 = math.ceil(1.5 * (overall.get("latency_p95_ms") or 0) / 1000) * 1000
    return {"min": minimums, "max": {"overall.latency_p95_ms": p95}}


def raised(old: dict, new: dict) -> dict:
    """`new`, except that no minimum falls below `old`'s and no maximum rises above it."""
    minimums = {k: max(v, old.get("min", {}).get(k, v)) for k, v in new["min"].items()}
    maximums = {k: min(v, old.get("max", {}).get(k, v)) for k, v in new["max"].items()}
    return {"min": old.get("min", {}) | minimums, "max": old.get("max", {}) | maximums}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="results.json of an eval run")
    parser.add_argument("suite", help="the suite whose thresholds to write")
    parser.add_argument("--first", action="store_true", help="the suite's first honest run")
    args = parser.parse_args(argv)
    document = json.loads(args.results.read_text(encoding="utf-8"))
    run = next(s for s in document["suites"] if s["suite"] == args.suite)["runs"][0]
    backend = run["backend"].partition(":")[0]
    path = thresholds_path(load_suite(args.suite).path)
    current = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    new = from_summary(run["summary"]["overall"], llm=backend != "extractive")
    if backend == "extractive":
        if current and not args.first:
            new = raised(current, new)
        written = current | new
    else:
        old = current.get("backends", {}).get(backend, {})
        if old and not args.first:
            new = raised(old, new)
        written = current | {"backends": current.get("backends", {}) | {backend: new}}
    path.write_text(json.dumps(written, indent=2) + "\n", encoding="utf-8")
    print(f"{path} ({backend}):\n{json.dumps(new, indent=2)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
