"""Set a suite's thresholds from a measured run: each overall figure floored to two decimals,
minus a margin of 0.02, citation validity always 1.0, p95 latency at most 3 s.

    python -m evals.thresholds reports/eval/results.json bbc-test [--first]

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


def from_summary(overall: dict[str, float | None]) -> dict:
    """Thresholds for a suite whose overall figures are `overall`."""
    minimums = {"overall.citation_validity": 1.0}
    for metric in GATED:
        value = overall.get(metric)
        if value is not None:
            minimums[f"overall.{metric}"] = round(max(0.0, math.floor(round(value * 100, 6)) / 100 - MARGIN), 2)
    return {"min": minimums, "max": {"overall.latency_p95_ms": MAX_P95_MS}}


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
    path = thresholds_path(load_suite(args.suite).path)
    new = from_summary(run["summary"]["overall"])
    if path.is_file() and not args.first:
        new = raised(json.loads(path.read_text(encoding="utf-8")), new)
    path.write_text(json.dumps(new, indent=2) + "\n", encoding="utf-8")
    print(f"{path}:\n{json.dumps(new, indent=2)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
