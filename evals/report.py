"""The eval report: results.json (every case, answer and score), report.md (a table per suite,
then all suites together), metrics.png (metrics per kind, one panel per suite and backend, with
the thresholds marked), and the summary printed by the CLI."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from evals.metrics import METRICS, summarize

if TYPE_CHECKING:
    from evals.runner import BackendRun, CaseResult, SuiteRun
    from evals.suite import Suite

# Columns of the summary tables: (metric, short header).
COLUMNS = (
    ("hit_at_k", "hit@k"),
    ("mrr", "MRR"),
    ("correctness", "correct"),
    ("answerable_correctness", "ans.correct"),
    ("short_correctness", "short ok"),
    ("citation_validity", "cit.valid"),
    ("citation_precision", "cit.prec"),
    ("citation_recall", "cit.rec"),
    ("gold_cited", "gold cited"),
    ("support", "support"),
    ("faithfulness_llm", "judge"),
    ("refusal_precision", "ref.prec"),
    ("refusal_recall", "ref.rec"),
    ("latency_p50_ms", "p50 ms"),
    ("latency_p95_ms", "p95 ms"),
)
CHART_METRICS = (
    "hit_at_k", "mrr", "correctness", "answerable_correctness", "citation_validity",
    "citation_precision", "citation_recall", "gold_cited", "support", "refusal_precision",
    "refusal_recall",
)
CHART_COLORS = (
    "#1f77b4", "#aec7e8", "#2ca02c", "#98df8a", "#7f7f7f", "#ff7f0e", "#ffbb78", "#9467bd",
    "#8c564b", "#d62728", "#e377c2",
)
ALL = "all suites"


def fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if metric.endswith("_ms") else f"{value:.2f}"


def title(suite: Suite) -> str:
    return f"{suite.name} ({suite.split}, {len(suite.cases)} cases)"


def write_report(out_dir: Path, suite_runs: Sequence[SuiteRun]) -> dict[str, Path]:
    """Write the three report files into `out_dir` and return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "results.json",
        "markdown": out_dir / "report.md",
        "chart": out_dir / "metrics.png",
    }
    results = results_document(suite_runs)
    paths["json"].write_text(json.dumps(results, indent=2, ensure_ascii=False), "utf-8")
    paths["markdown"].write_text(render_markdown(suite_runs), "utf-8")
    draw_chart(suite_runs, paths["chart"])
    return paths


def combined(suite_runs: Sequence[SuiteRun]) -> dict[str, dict[str, float | None]]:
    """Backend -> metrics over the cases of every suite together."""
    scores: dict[str, list] = {}
    for suite_run in suite_runs:
        for run in suite_run.runs:
            scores.setdefault(run.backend, []).extend(r.score for r in run.results)
    return {backend: summarize(values) for backend, values in scores.items()}


def results_document(suite_runs: Sequence[SuiteRun]) -> dict:
    return {
        "suites": [suite_document(s) for s in suite_runs],
        "overall": combined(suite_runs),
    }


def suite_document(suite_run: SuiteRun) -> dict:
    suite = suite_run.suite
    return {
        "suite": suite.name,
        "split": suite.split,
        "corpus": suite.header.corpus,
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
            for run in suite_run.runs
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
            if summary is not None:
                rows.append(_row(kind, run.backend, summary))
    return rows


def overall_rows(suite_runs: Sequence[SuiteRun]) -> list[list[str]]:
    """Each suite's overall row, then every suite together (the first column names the suite)."""
    rows = [
        _row(f"{s.suite.name} ({s.suite.split})", run.backend, run.summary["overall"])
        for s in suite_runs
        for run in s.runs
    ]
    rows += [_row(ALL, backend, summary) for backend, summary in combined(suite_runs).items()]
    return rows


def _row(label: str, backend: str, summary: dict) -> list[str]:
    return [label, backend, str(summary["cases"]), *(fmt(m, summary.get(m)) for m, _ in COLUMNS)]


def _headers(first: str = "kind") -> list[str]:
    return [first, "backend", "n", *(h for _, h in COLUMNS)]


def verdict(suite: Suite, run: BackendRun) -> str:
    """What the thresholds say: met, missed (which), or that there are none to meet."""
    if run.failures:
        return "UNDER THRESHOLD: " + "; ".join(run.failures)
    if not (run.gates.min or run.gates.max):
        return "no thresholds for this backend: not gated"
    return "all thresholds met"


def render_summary(suite_runs: Sequence[SuiteRun]) -> str:
    """Plain-text tables for the terminal (one per suite, then all suites together) and the
    threshold verdict of each suite and backend."""
    lines: list[str] = []
    for suite_run in suite_runs:
        lines += [f"suite {title(suite_run.suite)}"]
        lines += _text_table(_headers(), table_rows(suite_run.runs))
        lines += [f"{run.backend}: {verdict(suite_run.suite, run)}" for run in suite_run.runs]
        lines += [""]
    if len(suite_runs) > 1:
        lines += [ALL]
        lines += _text_table(_headers("suite"), overall_rows(suite_runs))
        lines += [""]
    return "\n".join(lines).rstrip()


def _text_table(headers: list[str], body: list[list[str]]) -> list[str]:
    rows = [headers, *body]
    widths = [max(len(row[i]) for row in rows) for i in range(len(headers))]
    lines = []
    for number, row in enumerate(rows):
        lines.append("  ".join(cell.rjust(w) if i > 1 else cell.ljust(w)
                               for i, (cell, w) in enumerate(zip(row, widths, strict=True))))
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def render_markdown(suite_runs: Sequence[SuiteRun]) -> str:
    names = ", ".join(f"`{s.suite.name}` ({s.suite.split})" for s in suite_runs)
    parts = [f"# Eval report: {names}", ""]
    if len(suite_runs) > 1:
        parts += [f"## {ALL.capitalize()}", ""]
        parts += _markdown_table(_headers("suite"), overall_rows(suite_runs))
        parts += [""]
    for suite_run in suite_runs:
        suite = suite_run.suite
        parts += [f"## Suite `{suite.name}`: {suite.split}, {len(suite.cases)} cases", ""]
        if suite.header.about:
            parts += [suite.header.about, ""]
        parts += _markdown_table(_headers(), table_rows(suite_run.runs))
        parts += ["", "### Thresholds", ""]
        parts += _threshold_lines(suite, suite_run.runs)
        for run in suite_run.runs:
            parts += ["", f"### Cases not answered correctly ({run.backend})", ""]
            parts += _missed_cases(run)
        parts += [""]
    parts += [f"Metrics: {', '.join(METRICS)}. `-` means not applicable.", ""]
    return "\n".join(parts)


def _markdown_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _threshold_lines(suite: Suite, runs: Sequence[BackendRun]) -> list[str]:
    """Each backend's own thresholds, with its values."""
    lines: list[str] = []
    for run in runs:
        limits = [(k, "min", v) for k, v in run.gates.min.items()]
        limits += [(k, "max", v) for k, v in run.gates.max.items()]
        if limits:
            rows = [[key, f"{bound} {limit}", fmt(key.partition(".")[2], run.summary.get(
                key.partition(".")[0], {}).get(key.partition(".")[2]))]
                for key, bound, limit in limits]
            lines += [f"{run.backend}:", ""] + _markdown_table(["metric", "threshold", "value"],
                                                               rows) + [""]
        lines += [f"{run.backend}: {verdict(suite, run)}", ""]
    return lines


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


def draw_chart(suite_runs: Sequence[SuiteRun], path: Path) -> None:
    """Grouped bars, one panel per suite and backend: for each kind, one bar per metric, the
    y-axis starting just under the lowest value shown, each threshold a black tick."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, safe in threads
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    panels = [(s.suite, run) for s in suite_runs for run in s.runs]
    figure = Figure(figsize=(14, 4.2 * max(1, len(panels))), layout="constrained")
    axes = figure.subplots(max(1, len(panels)), 1, squeeze=False)[:, 0]
    for ax, (suite, run) in zip(axes, panels, strict=False):
        _draw_panel(ax, suite, run)
    handles = [Patch(color=c, label=m) for m, c in zip(CHART_METRICS, CHART_COLORS, strict=True)]
    handles.append(Line2D([], [], color="black", linewidth=2, label="threshold (min)"))
    figure.legend(handles=handles, loc="outside right upper", fontsize="small")
    figure.savefig(path, dpi=100)


def _draw_panel(ax, suite: Suite, run: BackendRun) -> None:
    kinds = list(run.summary)
    width = 0.84 / len(CHART_METRICS)
    floor = chart_floor(run.summary)
    for number, (metric, color) in enumerate(zip(CHART_METRICS, CHART_COLORS, strict=True)):
        for i, kind in enumerate(kinds):
            value = charted(run.summary[kind], metric)
            x = i + (number - len(CHART_METRICS) / 2 + 0.5) * width
            if value is not None:
                ax.bar(x, value - floor, width, bottom=floor, color=color)
            limit = run.gates.min.get(f"{kind}.{metric}")
            if limit is not None:
                ax.hlines(limit, x - width / 2, x + width / 2, colors="black", linewidth=2)
    ax.set_xticks(range(len(kinds)), [f"{k}\n(n={run.summary[k]['cases']})" for k in kinds])
    ax.set_ylim(floor, 1.02)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(f"{suite.name} ({suite.split}) · {run.backend}: metrics per kind "
                 "(no bar = not applicable)")


def charted(summary: dict[str, float | None], metric: str) -> float | None:
    """The value a bar shows. Refusal precision is left out of kinds that expect no refusal:
    there it is 0.00 as soon as one case is refused, which the answerable-correctness bar
    already shows (the tables keep it)."""
    if metric == "refusal_precision" and summary.get("refusal_recall") is None:
        return None
    return summary.get(metric)


def chart_floor(summary: dict[str, dict[str, float | None]]) -> float:
    """Where the y-axis starts: a tenth under the lowest charted value, never below 0, so
    that 0.93 and 0.97 look different and 0.2 still shows."""
    values = [v for kind in summary.values() for m in CHART_METRICS
              if (v := charted(kind, m)) is not None]
    lowest = min(values, default=0.0)
    return max(0.0, int(lowest * 10) / 10 - 0.1)
