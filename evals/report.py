"""The eval report: results.json (every case, answer and score), report.md (tables),
metrics.png (metrics per kind, one panel per backend), and the summary printed by the CLI."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from evals.metrics import METRICS

if TYPE_CHECKING:
    from evals.runner import BackendRun, CaseResult
    from evals.suite import Suite

# Columns of the summary tables: (metric, short header).
COLUMNS = (
    ("hit_at_k", "hit@k"),
    ("mrr", "MRR"),
    ("correctness", "correct"),
    ("citation_validity", "cit.valid"),
    ("citation_precision", "cit.prec"),
    ("citation_recall", "cit.rec"),
    ("support", "support"),
    ("faithfulness_llm", "judge"),
    ("refusal_precision", "ref.prec"),
    ("refusal_recall", "ref.rec"),
    ("latency_p50_ms", "p50 ms"),
    ("latency_p95_ms", "p95 ms"),
)
CHART_METRICS = (
    "hit_at_k", "mrr", "correctness", "citation_validity", "citation_precision",
    "citation_recall", "support", "refusal_recall",
)


def fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if metric.endswith("_ms") else f"{value:.2f}"


def write_report(out_dir: Path, suite: Suite, runs: Sequence[BackendRun]) -> dict[str, Path]:
    """Write the three report files into `out_dir` and return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "results.json",
        "markdown": out_dir / "report.md",
        "chart": out_dir / "metrics.png",
    }
    results = results_document(suite, runs)
    paths["json"].write_text(json.dumps(results, indent=2, ensure_ascii=False), "utf-8")
    paths["markdown"].write_text(render_markdown(suite, runs), "utf-8")
    draw_chart(runs, paths["chart"])
    return paths


def results_document(suite: Suite, runs: Sequence[BackendRun]) -> dict:
    return {
        "suite": suite.name,
        "suite_path": str(suite.path) if suite.path else None,
        "thresholds": suite.thresholds.model_dump(),
        "runs": [
            {
                "backend": run.backend,
                "retrieval_from": run.retrieval_from,
                "summary": run.summary,
                "failures": run.failures,
                "cases": [case_document(r) for r in run.results],
            }
            for run in runs
        ],
    }


def case_document(result: CaseResult) -> dict:
    case = result.case
    return {
        "id": case.id,
        "kind": case.kind,
        "questions": case.questions,
        "expected": case.expected,
        "expected_sources": case.expected_sources,
        "expect_refusal": case.expect_refusal,
        "forbidden": case.forbidden,
        "history": [list(turn) for turn in result.history],
        "answer": result.answer.model_dump(mode="json") if result.answer else None,
        "ranked_sources": result.ranked_sources,
        "latency_ms": result.score.latency_ms,
        "scores": result.score.values,
        "error": result.error,
    }


def table_rows(runs: Sequence[BackendRun]) -> list[list[str]]:
    """One row per (kind, backend), overall first; backends side by side within a kind."""
    kinds = list(dict.fromkeys(k for run in runs for k in run.summary))
    rows = []
    for kind in kinds:
        for run in runs:
            summary = run.summary.get(kind)
            if summary is None:
                continue
            cells = [fmt(m, summary.get(m)) for m, _ in COLUMNS]
            rows.append([kind, run.backend, str(summary["cases"]), *cells])
    return rows


def _headers() -> list[str]:
    return ["kind", "backend", "n", *(h for _, h in COLUMNS)]


def render_summary(suite: Suite, runs: Sequence[BackendRun]) -> str:
    """A plain-text table for the terminal, then the threshold verdict per backend."""
    rows = [_headers(), *table_rows(runs)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"suite {suite.name}: {len(suite.cases)} cases"]
    for number, row in enumerate(rows):
        lines.append("  ".join(cell.rjust(w) if i > 1 else cell.ljust(w)
                               for i, (cell, w) in enumerate(zip(row, widths, strict=True))))
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    for run in runs:
        verdict = "all thresholds met" if not run.failures else "UNDER THRESHOLD: " + "; ".join(
            run.failures
        )
        lines.append(f"{run.backend}: {verdict}")
    return "\n".join(lines)


def render_markdown(suite: Suite, runs: Sequence[BackendRun]) -> str:
    parts = [f"# Eval report: suite `{suite.name}` ({len(suite.cases)} cases)", ""]
    parts += _markdown_table(_headers(), table_rows(runs))
    parts += ["", "## Thresholds", ""]
    parts += _threshold_lines(suite, runs)
    for run in runs:
        parts += ["", f"## Cases not answered correctly ({run.backend})", ""]
        parts += _missed_cases(run)
    parts += ["", f"Metrics: {', '.join(METRICS)}. `-` means not applicable.", ""]
    return "\n".join(parts)


def _markdown_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _threshold_lines(suite: Suite, runs: Sequence[BackendRun]) -> list[str]:
    limits = [(k, "min", v) for k, v in suite.thresholds.min.items()]
    limits += [(k, "max", v) for k, v in suite.thresholds.max.items()]
    if not limits:
        return ["No thresholds for this suite."]
    rows = []
    for key, bound, limit in limits:
        scope, _, metric = key.partition(".")
        cells = [fmt(metric, run.summary.get(scope, {}).get(metric)) for run in runs]
        rows.append([key, f"{bound} {limit}", *cells])
    return _markdown_table(["metric", "threshold", *(r.backend for r in runs)], rows)


def _missed_cases(run: BackendRun) -> list[str]:
    missed = [r for r in run.results if r.score.values.get("correctness") == 0.0]
    if not missed:
        return ["None."]
    lines = []
    for result in missed:
        text = result.error or (result.answer.text if result.answer else "")
        text = " ".join(text.split())[:300].replace("|", "/")
        refused = " (refused)" if result.score.refused else ""
        lines.append(f"- `{result.case.id}` [{result.case.kind}] {result.case.questions[-1]}")
        lines.append(f"  - answer{refused}: {text}")
    return lines


def draw_chart(runs: Sequence[BackendRun], path: Path) -> None:
    """Grouped bars: for each kind, one bar per metric; one panel per backend."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, safe in threads

    figure = Figure(figsize=(13, 4 * max(1, len(runs))), layout="constrained")
    axes = figure.subplots(max(1, len(runs)), 1, squeeze=False)[:, 0]
    for ax, run in zip(axes, runs, strict=False):
        _draw_panel(ax, run)
    figure.savefig(path, dpi=100)


def _draw_panel(ax, run: BackendRun) -> None:
    kinds = list(run.summary)
    width = 0.8 / len(CHART_METRICS)
    for number, metric in enumerate(CHART_METRICS):
        values = [run.summary[k].get(metric) or 0.0 for k in kinds]
        positions = [i + (number - len(CHART_METRICS) / 2 + 0.5) * width for i in range(len(kinds))]
        ax.bar(positions, values, width, label=metric)
    ax.set_xticks(range(len(kinds)), [f"{k}\n(n={run.summary[k]['cases']})" for k in kinds])
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{run.backend}: metrics per kind (missing = not applicable)")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
