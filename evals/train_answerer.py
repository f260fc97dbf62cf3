"""Train the offline answerer's two logistic models on the DEV suites only, and write
`rag/extractive/model.json` with the list of data they saw.

    python -m evals.train_answerer [--check]   (--check: retrain and compare, write nothing)

Data: every case but digests of `seeds` and `seeds-casual` (over the bundled articles) and
`bbc-dev` (over the BBC archive, which must be present); a follow-up is rewritten with its
conversation's earlier questions, as the answerer would. The test suites are never read.
- Ranker rows: pairs of shortlisted sentences of one part of an answerable question, one
  that holds the answer (in a gold file, with an expected answer string) and one that does
  not; the row is their feature difference (a linear RankNet).
- Refusal rows: the best-ranked sentence of each question; positive when the question is
  answerable and that sentence holds an expected answer. Near-miss negatives come free: each
  answerable question asked again with its gold files filtered out of the index is
  unanswerable-but-close; together the twins weigh as much as the real unanswerable cases.
The threshold under which the answerer declines is the one that gets the most real dev
questions right (near-miss twins left out) with confidences from models that never saw the
question: the training suites' out of fold (each fold scored by models fitted on the others),
and `bbc-train`'s 600 from the final models, which are not trained on it. In-sample
confidences are too sure; and on the training suites alone (234 questions) the count is flat
from 0.15 to 0.30, so any small change of the rows moved the threshold. Retrieval is exact
(every vector compared, not Chroma's HNSW graph, which differs from build to build), so the
rows are the same on every machine. Both models are scikit-learn logistic
regressions (lbfgs, deterministic); `--check` retrains and accepts the file when the data and
the threshold are the same and no weight moved by more than 0.01.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from evals import bbc
from evals.metrics import contains_phrase
from evals.suite import Case, Suite, load_suite
from rag.config import Settings
from rag.extractive.answerer import confidence, rank
from rag.extractive.evidence import FEATURES
from rag.extractive.model import (
    MODEL_PATH,
    REFUSAL_FEATURES,
    Logistic,
    refusal_inputs,
)
from rag.extractive.question import asked_part, casing_of, read_question
from rag.types import Filters

DEV_SUITES = ("seeds", "seeds-casual", "bbc-dev")  # not bbc-val: it judges what this trains
THRESHOLD_SUITES = ("bbc-train",)  # dev questions the models never see; only the threshold
BUNDLED = Path(__file__).resolve().parents[1] / "data" / "articles"
SKIPPED_KINDS = {"digest"}  # a digest has no single answer to find
C = 1.0
FOLDS = 5  # cross-validation folds the threshold is chosen on
TOLERANCE = 0.01  # how far a retrained weight may stray and still reproduce the file


@dataclass
class Rows:
    features: list[list[float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)

    def add(self, values: dict[str, float], names: tuple[str, ...], label: bool,
            weight: float = 1.0) -> None:
        self.features.append([values[n] for n in names])
        self.labels.append(int(label))
        self.weights.append(weight)


@dataclass
class Asked:
    """One question put to the system: its candidates per part, and whether it is answerable."""

    case: Case
    parts: list[list]  # the candidates of each part
    answerable: bool
    near_miss: bool = False


def holds_answer(candidate, case: Case) -> bool:
    return candidate.chunk.source in case.expected_sources and any(
        contains_phrase(candidate.text, alternative)
        for group in case.expected for alternative in group)


def ask_all(settings: Settings, suite: Suite, twins: bool = True) -> list[Asked]:
    """Every usable case of the suite, plus (with `twins`) its near-miss twin, through
    retrieval and evidence."""
    from rag.ask import Engine

    # Exact nearest chunks: Chroma's HNSW graph differs from build to build, and so would
    # the training rows (see HybridRetriever).
    engine = Engine(settings.model_copy(update={"llm": "extractive"}), exact=True)
    sources = sorted({c.source for c in engine.retriever.lexical.chunks})
    asked = []
    for case in suite.cases:
        if case.kind in SKIPPED_KINDS:
            continue
        question = asked_part(case.questions[-1])
        filters = Filters(sources=case.only_sources) if case.only_sources else None
        history = converse(engine, case.questions[:-1], filters)
        query = engine.standalone(question, history)
        asked.append(Asked(case, candidates(engine, question, filters, query),
                           not case.expect_refusal))
        if twins and not case.expect_refusal and not history:
            rest = [s for s in sources if s not in set(case.expected_sources)]
            asked.append(Asked(case, candidates(engine, question, Filters(sources=rest)),
                               False, near_miss=True))
    return asked


def converse(engine, turns: list[str], filters: Filters | None) -> list[tuple[str, str]]:
    """The earlier turns of a conversation as history, their answers left blank: an answer
    depends on the model being trained, and the training data must not (or retraining would
    not reproduce the file). The follow-up carries the earlier questions' words."""
    return [(turn, "") for turn in turns]


def candidates(engine, question: str, filters: Filters | None,
               query: str | None = None) -> list[list]:
    retrieval = engine.retrieve(query or question, None, filters)
    answerer = engine.extractive
    casing = casing_of([hit.chunk.text for hit in retrieval.hits])
    picks = answerer.picks(read_question(question, casing), retrieval, casing)
    # In file order, not in the order the shipped model ranks them: the rows (and so the
    # fitted weights, to the last digit) must not depend on the model being replaced.
    return [sorted(pick.candidates, key=lambda c: (c.chunk.source, c.start)) for pick in picks]


def fit(rows: Rows, names: tuple[str, ...], intercept: bool = True) -> Logistic:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=C, solver="lbfgs", max_iter=1000, fit_intercept=intercept)
    model.fit(rows.features, rows.labels, sample_weight=rows.weights)
    return Logistic(names, tuple(round(float(w), 6) for w in model.coef_[0]),
                    round(float(model.intercept_[0]), 6))


def best_threshold(confidences: list[float], outcomes: list[tuple[bool, bool]]) -> float:
    """The confidence under which to decline that makes the most questions come out right
    (answered right, or unanswerable and declined); ties go to the higher one."""
    def right(threshold: float) -> int:
        return sum((c >= threshold and best) or (c < threshold and not answerable)
                   for c, (answerable, best) in zip(confidences, outcomes, strict=True))

    grid = [round(0.05 * i, 2) for i in range(2, 19)]
    return max(grid, key=lambda t: (right(t), t))


def fit_ranker(asked: list[Asked]) -> tuple[Logistic, int]:
    rows = Rows()
    for item in asked:
        if not item.answerable:
            continue
        for part in item.parts:
            right = [c for c in part if holds_answer(c, item.case)]
            wrong = [c for c in part if not holds_answer(c, item.case)]
            for good in right:
                for bad in wrong:
                    difference = {n: good.features[n] - bad.features[n] for n in FEATURES}
                    rows.add(difference, FEATURES, True)
                    rows.add({n: -v for n, v in difference.items()}, FEATURES, False)
    return fit(rows, FEATURES, intercept=False), len(rows.labels) // 2


def fit_refusal(asked: list[Asked], ranker: Logistic) -> tuple[Logistic, Rows, float]:
    # Near-miss twins are more examples of unanswerable questions, not more of them in use:
    # together they weigh as much as the real unanswerable cases, so the probability stays
    # calibrated to the suites' mix and 0.5 means "more likely right than wrong".
    real = sum(1 for a in asked if not a.answerable and not a.near_miss)
    twins = sum(1 for a in asked if a.near_miss)
    twin_weight = real / twins if twins else 1.0
    rows = Rows()
    for item in asked:
        part = item.parts[0]
        rank(part, ranker)
        if part:
            right = item.answerable and holds_answer(part[0], item.case)
            rows.add(refusal_inputs(part[0], part[1] if len(part) > 1 else None),
                     REFUSAL_FEATURES, right, twin_weight if item.near_miss else 1.0)
    return fit(rows, REFUSAL_FEATURES), rows, twin_weight


def held_out_outcomes(asked: list[Asked]) -> tuple[list[float], list[tuple[bool, bool]]]:
    """Each real question's confidence (in the order of `asked`, twins left out) from models
    fitted without it (FOLDS folds by case, a twin in its case's fold), as the answerer
    computes it, and (answerable, its best sentence is right). A model is surer of the
    questions it was fitted on: a threshold chosen on those would sit where questions it
    has never seen are answered wrongly."""
    fold_of = {a.case.id: int(hashlib.sha256(a.case.id.encode()).hexdigest(), 16) % FOLDS
               for a in asked}
    found: dict[int, tuple[float, tuple[bool, bool]]] = {}
    for fold in range(FOLDS):
        others = [a for a in asked if fold_of[a.case.id] != fold]
        ranker, _ = fit_ranker(others)
        refusal, _, _ = fit_refusal(others, ranker)
        for index, item in enumerate(asked):
            part = item.parts[0]
            if fold_of[item.case.id] != fold or item.near_miss:
                continue
            rank(part, ranker)
            found[index] = (confidence(part, refusal), (item.answerable, bool(part) and
                            item.answerable and holds_answer(part[0], item.case)))
    in_order = [found[index] for index in sorted(found)]
    return [c for c, _ in in_order], [o for _, o in in_order]


def outcomes(asked: list[Asked], ranker: Logistic,
             refusal: Logistic) -> tuple[list[float], list[tuple[bool, bool]]]:
    """Each question's confidence and (answerable, its best sentence is right)."""
    confidences, found = [], []
    for item in asked:
        part = item.parts[0]
        rank(part, ranker)
        confidences.append(confidence(part, refusal))
        found.append((item.answerable, bool(part) and item.answerable and
                      holds_answer(part[0], item.case)))
    return confidences, found


def train(asked: list[Asked], unseen: list[Asked] = ()) -> tuple[Logistic, Logistic, float, dict]:
    """The two models fitted on `asked`, and the threshold chosen on `asked` out of fold
    and on `unseen` (questions never fitted on) as the final models score them."""
    ranker, pairs = fit_ranker(asked)
    refusal, rows, twin_weight = fit_refusal(asked, ranker)
    confidences, found = held_out_outcomes(asked)
    more_confidences, more_found = outcomes(list(unseen), ranker, refusal)
    threshold = best_threshold(confidences + more_confidences, found + more_found)
    counts = {"ranker_pairs": pairs, "near_miss_weight": round(twin_weight, 6),
              "refusal_rows": len(rows.labels), "refusal_positive": sum(rows.labels),
              "threshold_folds": FOLDS}
    return ranker, refusal, threshold, counts


def suite_record(suite: Suite, asked: list[Asked]) -> dict:
    used = [a.case.id for a in asked if not a.near_miss]
    return {"suite": suite.name, "split": suite.split,
            "sha256": hashlib.sha256(suite.path.read_bytes()).hexdigest(),
            "cases": used, "near_miss_twins": sum(a.near_miss for a in asked)}


def ask_suites(names: tuple[str, ...], settings: Settings,
               twins: bool = True) -> tuple[list[Asked], list[dict]]:
    """Every question of the named dev suites asked (the BBC archive indexed first where a
    suite needs it), and a record of each suite for model.json."""
    everything, records = [], []
    for name in names:
        suite = load_suite(name)
        assert suite.split == "dev", f"{name} is not a dev suite: never train on a test suite"
        on = settings
        if suite.header.corpus == "bbc":
            from index.ingest import ingest

            on = bbc.eval_settings(settings)
            ingest(on, progress=False)
        asked = ask_all(on, suite, twins)
        records.append(suite_record(suite, asked))
        everything += asked
    return everything, records


def build(settings: Settings) -> dict:
    everything, records = ask_suites(DEV_SUITES, settings)
    unseen, unseen_records = ask_suites(THRESHOLD_SUITES, settings, twins=False)
    ranker, refusal, threshold, counts = train(everything, unseen)
    return {"ranker": ranker.to_json(), "refusal": refusal.to_json(), "threshold": threshold,
            "trained_on": {"script": "evals/train_answerer.py", "C": C, **counts,
                           "suites": records, "threshold_also_on": unseen_records}}


def differences(committed: dict, retrained: dict, tolerance: float = TOLERANCE) -> list[str]:
    """Where a retrain departs from the committed model: the data it saw, the threshold, or
    a weight by more than `tolerance`. (Floating-point noise in batched spaCy and ONNX runs
    can move a weight in its third decimal; nothing larger is a reproduction.)"""
    problems = []
    if committed["trained_on"] != retrained["trained_on"]:
        problems.append("trained on other data")
    if committed["threshold"] != retrained["threshold"]:
        problems.append(f"threshold {committed['threshold']} -> {retrained['threshold']}")
    for name in ("ranker", "refusal"):
        old, new = committed[name], retrained[name]
        if old["features"] != new["features"]:
            problems.append(f"{name}: other features")
            continue
        pairs = zip(old["features"], old["weights"] + [old["bias"]],
                    new["weights"] + [new["bias"]], strict=False)
        problems += [f"{name}.{f}: {a} -> {b}" for f, a, b in pairs if abs(a - b) > tolerance]
        if abs(old["bias"] - new["bias"]) > tolerance:
            problems.append(f"{name}.bias: {old['bias']} -> {new['bias']}")
    return problems


def render(model: dict) -> str:
    return json.dumps(model, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="retrain and compare with the committed file; write nothing")
    args = parser.parse_args(argv)
    settings = Settings(_env_file=None, corpus_dir=BUNDLED,
                        store_dir=Settings(_env_file=None).cache_dir / "train-seeds-store")
    model = build(settings)
    if args.check:
        problems = differences(json.loads(MODEL_PATH.read_text(encoding="utf-8")), model)
        print("model.json is reproduced" if not problems else
              "model.json differs from a retrain: " + "; ".join(problems))
        return 0 if not problems else 1
    text = render(model)
    MODEL_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {MODEL_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
