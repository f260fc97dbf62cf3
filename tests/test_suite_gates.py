"""The CI gates on the held-out test suites (seeds-test; bbc-test where the BBC archive is
present), and the honesty of the BBC suite files: dev and test share no article and no
question, and the mix of kinds is what the suites promise.

bbc-test runs on the real archive, indexed once into the user's cache folder
(NEWSQA_CACHE_DIR, keyed by the archive's hash and the embedder) and reused by later runs.
Without the archive the gate is skipped, never passed, and the run's last lines say so.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter

import pytest
from conftest import BUNDLED, make_settings

from evals import bbc
from evals.metrics import normalize
from evals.runner import run_cli
from evals.suite import load_suite

BBC_DEV, BBC_VAL, BBC_TEST = load_suite("bbc-dev"), load_suite("bbc-val"), load_suite("bbc-test")
BBC_TRAIN = load_suite("bbc-train")
SEEDS_TEST = load_suite("seeds-test")
BBC_STATUS: dict[str, str] = {}  # read by conftest's terminal summary


def run_gate(settings, suite: str, out, capsys) -> dict:
    code = run_cli(settings, suite=suite, backend="extractive", out_dir=out)
    printed = capsys.readouterr().out
    print(printed)  # shown by pytest when the gate fails
    assert code == 0, printed
    results = json.loads((out / "results.json").read_text())
    run = results["suites"][0]["runs"][0]
    assert run["summary"]["overall"]["citation_validity"] == 1.0
    on = bbc.eval_settings(settings) if load_suite(suite).header.corpus == "bbc" else settings
    assert_every_short_answer_is_exact(run["cases"], on)
    return run["summary"]["overall"]


def assert_every_short_answer_is_exact(cases: list[dict], settings) -> None:
    """Property over every answer of a suite: `short` is the file's text at its offsets and
    lies inside the quote of the citation it names."""
    from answer_checks import assert_short_is_exact

    from evals.runner import CorpusTexts
    from rag.types import Answer

    texts = CorpusTexts(settings.corpus_dir)
    shorts = 0
    for case in cases:
        answer = Answer.model_validate(case["answer"])
        assert_short_is_exact(answer, texts.__getitem__)
        shorts += answer.short is not None
    assert shorts or not cases, "no answer of the suite led with a short answer"


def test_seeds_test_meets_its_thresholds(bundled_index, tmp_path, capsys):
    assert SEEDS_TEST.split == "test" and SEEDS_TEST.thresholds.min
    summary = run_gate(bundled_index, "seeds-test", tmp_path / "r", capsys)
    assert summary["cases"] == len(SEEDS_TEST.cases)


def test_bbc_test_meets_its_thresholds(tmp_path, capsys):
    settings = make_settings(tmp_path)
    archive = bbc.archive_path(settings)
    if not archive.is_file():
        BBC_STATUS["bbc-test"] = f"NOT run: no archive at {archive} (skipped, not passed)"
        pytest.skip(f"bbc-test needs the BBC archive at {archive}")
    assert BBC_TEST.split == "test" and BBC_TEST.thresholds.min
    summary = run_gate(settings, "bbc-test", tmp_path / "r", capsys)
    assert summary["cases"] == len(BBC_TEST.cases)
    BBC_STATUS["bbc-test"] = (f"ran {summary['cases']} cases on {archive}, correctness "
                              f"{summary['correctness']:.2f}, thresholds met")


# --- the suite files themselves (no archive needed) ----------------------------------------------


def test_bbc_suites_are_marked_and_big_enough():
    assert (BBC_DEV.split, BBC_VAL.split, BBC_TRAIN.split, BBC_TEST.split) == (
        "dev", "dev", "dev", "test")
    assert {s.header.corpus for s in (BBC_DEV, BBC_VAL, BBC_TRAIN, BBC_TEST)} == {"bbc"}
    cases = BBC_DEV.cases + BBC_TRAIN.cases + BBC_TEST.cases
    kinds = Counter(c.kind for c in cases)
    assert len(cases) >= 240
    assert kinds["single_fact"] >= 0.60 * len(cases)
    assert kinds["multi_article"] >= 0.10 * len(cases)
    assert kinds["unanswerable"] >= 0.25 * len(cases)
    assert all(c.expect_refusal == (c.kind == "unanswerable") for c in cases)
    assert all(c.event and c.missing and c.expected_sources for c in cases if c.expect_refusal)


def test_the_bbc_suites_share_no_article_and_no_question():
    def articles(suite):
        return {s for c in suite.cases for s in c.expected_sources}

    def questions(suite):
        return {normalize(q) for c in suite.cases for q in c.questions}

    for one, other in itertools.combinations((BBC_DEV, BBC_VAL, BBC_TRAIN, BBC_TEST), 2):
        assert not articles(one) & articles(other)
        assert not questions(one) & questions(other)
        assert not {c.id for c in one.cases} & {c.id for c in other.cases}


def test_bbc_suites_check_out_against_the_archive(tmp_path):
    """The committed checker: answers in their gold files, duplicates listed, splits kept,
    every unanswerable detail absent from all 2,225 files."""
    settings = make_settings(tmp_path)
    if not bbc.archive_path(settings).is_file():
        pytest.skip(f"needs the BBC archive at {bbc.archive_path(settings)}")
    from evals.suites.check_bbc import Archive, check_suites

    archive = Archive(bbc.prepare_corpus(settings))
    assert len(archive.sources) == bbc.ARTICLES
    assert check_suites([BBC_DEV, BBC_VAL, BBC_TRAIN, BBC_TEST], archive) == []


def test_seeds_test_is_new_and_honest():
    from evals.metrics import contains_phrase
    from evals.runner import CorpusTexts

    seeds = load_suite("seeds")
    assert len(SEEDS_TEST.cases) >= 40
    assert not {normalize(q) for c in seeds.cases for q in c.questions} & {
        normalize(q) for c in SEEDS_TEST.cases for q in c.questions
    }
    texts = CorpusTexts(BUNDLED)
    for case in SEEDS_TEST.cases:
        for group in case.expected if not case.expect_refusal else []:
            found = any(contains_phrase(texts[s], a) for s in case.expected_sources for a in group)
            assert found, f"{case.id}: none of {group} in {case.expected_sources}"


def test_retraining_the_answerer_reproduces_the_committed_model(tmp_path, capsys):
    """evals/train_answerer.py, run on the dev suites, writes exactly rag/extractive/model.json."""
    settings = make_settings(tmp_path)
    if not bbc.archive_path(settings).is_file():
        pytest.skip(f"training reads bbc-dev, which needs the archive at "
                    f"{bbc.archive_path(settings)}")
    from evals.train_answerer import main

    assert main(["--check"]) == 0, capsys.readouterr().out
