"""`newsqa eval`: run a suite through the rag Engine, score every case, write a report
directory (results.json, report.md, metrics.png) and gate on the suite's thresholds.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from evals import bbc, metrics
from evals.report import render_summary, write_report
from evals.rgb import build_corpus, load_rgb
from evals.suite import Case, Gates, Suite, load_suite
from rag.config import Settings
from rag.errors import ConfigError, LLMError
from rag.types import Answer, Filters

log = logging.getLogger(__name__)
BACKENDS = ("extractive", "openai", "local")
Judge = Callable[[str, str, list[str]], float | None]


@dataclass
class CaseResult:
    case: Case
    answer: Answer | None
    score: metrics.CaseScore
    history: list[tuple[str, str]] = field(default_factory=list)
    ranked_sources: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class BackendRun:
    backend: str
    results: list[CaseResult]
    summary: dict[str, dict[str, float | None]]
    failures: list[str]
    retrieval_from: str = "citations"
    gates: Gates = field(default_factory=Gates)  # the thresholds this backend was held to


@dataclass
class SuiteRun:
    """One suite, run on each backend."""

    suite: Suite
    runs: list[BackendRun]


class CorpusTexts(Mapping[str, str]):
    """Source name -> decoded file text, read through index.reader (the decoding that the
    citation offsets refer to), each file once."""

    def __init__(self, corpus_dir: Path) -> None:
        self.corpus_dir = Path(corpus_dir)
        self._texts: dict[str, str] = {}

    def __getitem__(self, source: str) -> str:
        if source not in self._texts:
            from index.reader import read_file

            path = self.corpus_dir / source
            if not path.is_file():
                raise KeyError(source)
            self._texts[source] = read_file(path, self.corpus_dir).text
        return self._texts[source]

    def __iter__(self) -> Iterator[str]:
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)


def run_cli(
    settings: Settings,
    suite: str | Path = "seeds",
    backend: str | None = None,
    compare: str | None = None,
    rgb_path: Path | None = None,
    out_dir: Path = Path("reports/eval"),
    progress: bool = False,
    judge: bool = False,
) -> int:
    """Run the suites ("bbc-test,seeds-test": several at once) or an RGB file on each
    backend, write one report, print a summary.

    Returns 1 when a metric is under (or over) a threshold of its suite, 0 otherwise. A BBC
    suite without the archive raises `ArchiveMissing` before anything runs (the CLI: exit 2)."""
    backends = choose_backends(settings, backend, compare)
    with tempfile.TemporaryDirectory(prefix="newsqa-eval-") as scratch:
        prepared = prepare(settings, suite, rgb_path, Path(scratch), progress)
        suite_runs = [
            SuiteRun(loaded, [run_suite(with_backend(on, name), loaded, judge)
                              for name in backends])
            for on, loaded in prepared
        ]
    paths = write_report(Path(out_dir), suite_runs)
    print(render_summary(suite_runs))
    print(f"report: {paths['markdown']} (results.json, metrics.png beside it)")
    return 1 if any(run.failures for s in suite_runs for run in s.runs) else 0


def suite_specs(suite: str | Path) -> list[str | Path]:
    """'bbc-test,seeds-test' -> ['bbc-test', 'seeds-test']; a Path stays one suite."""
    if isinstance(suite, Path):
        return [suite]
    return [part.strip() for part in suite.split(",") if part.strip()] or ["seeds"]


def choose_backends(settings: Settings, backend: str | None, compare: str | None) -> list[str]:
    """The backends to run: `compare` ("extractive,openai"), else `backend`, else the setting."""
    names = [n.strip() for n in compare.split(",") if n.strip()] if compare else []
    names = names or [backend or settings.llm or "extractive"]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise ConfigError(f"unknown backend {unknown[0]!r}: use {' or '.join(BACKENDS)}")
    return list(dict.fromkeys(names))


def with_backend(settings: Settings, backend: str) -> Settings:
    return settings.model_copy(update={"llm": backend})


def prepare(
    settings: Settings,
    suite: str | Path,
    rgb_path: Path | None,
    scratch: Path,
    progress: bool = False,
) -> list[tuple[Settings, Suite]]:
    """Each suite to run with the settings to run it on. Every suite is loaded (and the BBC
    archive looked for) before any is indexed, so a bad name fails at once. A BBC suite runs
    on the extracted archive and its cached index; an RGB file becomes a corpus of passage
    files in `scratch`, indexed into a store there (never the user's store)."""
    from index.ingest import ingest

    if rgb_path is not None:
        loaded = build_corpus(load_rgb(Path(rgb_path)), scratch / "corpus")
        rgb_settings = settings.model_copy(
            update={
                "corpus_dir": scratch / "corpus",
                "store_dir": scratch / "store",
                "chroma_host": None,
                "collection": "newsqa_rgb",
            }
        )
        ingest(rgb_settings, progress=False)
        return [(rgb_settings, loaded)]
    suites = [load_suite(spec) for spec in suite_specs(suite)]
    if any(s.header.corpus == "bbc" for s in suites):
        bbc.require_archive(settings)
    prepared = []
    for loaded in suites:
        on = settings
        if loaded.header.corpus == "bbc":
            on = bbc.eval_settings(settings)
            log.info("suite %s: BBC archive in %s (indexed once, then reused)", loaded.name,
                     on.corpus_dir)
            ingest(on, progress=progress)
        prepared.append((on, loaded))
    return prepared


def run_suite(settings: Settings, suite: Suite, judge: bool = False) -> BackendRun:
    """Every case of the suite through a fresh Engine on `settings`, scored and gated by
    the suite's thresholds for this backend (`judge`: also ask the LLM judge)."""
    from rag.ask import Engine

    engine = Engine(settings)
    texts = CorpusTexts(settings.corpus_dir)
    asked = make_judge(settings) if judge else None
    results = [run_case(engine, case, texts, settings.top_k, asked) for case in suite.cases]
    summary = metrics.aggregate([r.score for r in results])
    gates = suite.thresholds.for_backend(settings.llm)
    failures = metrics.check_thresholds(summary, gates.min, gates.max)
    how = _retrieval_source(engine)
    return BackendRun(settings.answer_backend, results, summary, failures, how, gates)


def run_case(
    engine, case: Case, texts: Mapping[str, str], k: int, judge: Judge | None = None
) -> CaseResult:
    """Ask the case's questions in order (earlier turns become the history), score the last."""
    filters = Filters(sources=case.only_sources) if case.only_sources else None
    history: list[tuple[str, str]] = []
    try:
        for question in case.questions[:-1]:
            earlier = engine.ask(question, history=list(history) or None, filters=filters)
            history.append((question, earlier.text))
        started = time.perf_counter()
        answer = engine.ask(case.questions[-1], history=list(history) or None, filters=filters)
        latency = (time.perf_counter() - started) * 1000
    except LLMError as error:  # one failed request should not lose the whole run
        log.warning("case %s: %s", case.id, error)
        return CaseResult(case, None, _failed_score(case), history, error=str(error))
    ranked = ranked_sources(engine, answer, case.questions[-1], k, filters)
    score = score_case(case, answer, ranked, latency, texts, k, judge)
    return CaseResult(case, answer, score, history, ranked)


def ranked_sources(engine, answer: Answer, question: str, k: int, filters) -> list[str]:
    """Source files of the passages the system retrieved for the (rewritten) question, best
    first. Uses the engine's `retrieve` when it has one; otherwise the cited files in marker
    order, which is what the answer shows the user."""
    if callable(getattr(engine, "retrieve", None)):
        retrieval = engine.retrieve(answer.query or question, k, filters)
        return [hit.chunk.source for hit in retrieval.hits]
    return [c.source for c in sorted(answer.citations, key=lambda c: c.marker)]


def _retrieval_source(engine) -> str:
    return "retriever" if callable(getattr(engine, "retrieve", None)) else "citations"


def score_case(
    case: Case,
    answer: Answer,
    ranked: list[str],
    latency_ms: float,
    texts: Mapping[str, str],
    k: int,
    judge: Judge | None = None,
) -> metrics.CaseScore:
    """All per-case metrics of one answer."""
    expected_sources = case.expected_sources
    answerable = not case.expect_refusal
    correctness = metrics.case_correctness(
        answer.text, answer.refused, case.expect_refusal, case.expected, case.forbidden
    )
    values = {
        "hit_at_k": metrics.hit_at_k(ranked, expected_sources, k),
        "mrr": metrics.reciprocal_rank(ranked, expected_sources),
        "retrieval_recall": metrics.retrieval_recall(ranked, expected_sources, k),
        "correctness": correctness,
        "answerable_correctness": correctness if answerable else None,
        "short_correctness": metrics.short_correctness(
            answer.short.text if answer.short else None, correctness if answerable else None,
            case.expected),
        "citation_validity": metrics.citation_validity(answer.citations, texts),
        "citation_precision": (
            metrics.citation_precision(answer.citations, expected_sources) if answerable else None
        ),
        "citation_recall": (
            metrics.citation_recall(answer.citations, expected_sources) if answerable else None
        ),
        "gold_cited": (
            metrics.gold_cited(answer.citations, expected_sources) if answerable else None
        ),
        "support": None if answer.refused else metrics.support(answer.text, answer.citations),
        "faithfulness_llm": _judge(judge, case, answer),
    }
    return metrics.CaseScore(
        case.id, case.kind, case.expect_refusal, answer.refused, latency_ms, values
    )


def _judge(judge: Judge | None, case: Case, answer: Answer) -> float | None:
    if judge is None or answer.refused or not answer.citations:
        return None
    return judge(case.questions[-1], answer.text, [c.quote for c in answer.citations])


def _failed_score(case: Case) -> metrics.CaseScore:
    values = dict.fromkeys(metrics.CASE_METRICS)
    values["correctness"] = 0.0
    if not case.expect_refusal:
        values["answerable_correctness"] = 0.0
    return metrics.CaseScore(case.id, case.kind, case.expect_refusal, False, 0.0, values)


def make_judge(settings: Settings) -> Judge:
    """LlamaIndex's FaithfulnessEvaluator on the configured OpenAI-compatible LLM (asked
    for with --judge; the offline proxy `support` is always computed)."""
    from evals.judge import faithfulness_judge, llm_configured

    if not llm_configured(settings):
        raise ConfigError("--judge needs an LLM to ask: set NEWSQA_OPENAI_BASE_URL (a local "
                          "server) or OPENAI_API_KEY")
    return faithfulness_judge(settings)
