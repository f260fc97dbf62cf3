"""The seed suite: the file itself is honest, and the offline system meets its thresholds
(this is the CI gate; raising the thresholds is how the project improves)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from evals.metrics import contains_phrase
from evals.runner import CorpusTexts, run_cli
from evals.suite import KINDS, SuiteError, load_suite, parse_cases, thresholds_path

BUNDLED = Path(__file__).resolve().parent.parent / "data" / "articles"
SEEDS = load_suite("seeds")


def test_seed_suite_size_and_coverage():
    kinds = Counter(case.kind for case in SEEDS.cases)
    assert len(SEEDS.cases) >= 40
    assert kinds["unanswerable"] >= 10
    assert kinds["multi_turn"] >= 5
    assert set(KINDS) - {"rgb", "digest"} <= set(kinds)
    assert all(len(c.turns or []) >= 2 for c in SEEDS.cases if c.kind == "multi_turn")
    assert all(c.expect_refusal for c in SEEDS.cases if c.kind == "unanswerable")
    # most unanswerable cases are about events the articles do cover (the detail is missing)
    on_topic = [c for c in SEEDS.cases if c.kind == "unanswerable" and c.expected_sources]
    assert len(on_topic) >= 0.7 * kinds["unanswerable"]


def test_expected_sources_exist():
    for case in SEEDS.cases:
        for source in case.expected_sources:
            assert (BUNDLED / source).is_file(), f"{case.id}: no file {source}"


def test_every_expected_group_occurs_in_an_expected_source():
    texts = CorpusTexts(BUNDLED)
    for case in SEEDS.cases:
        if case.expect_refusal:
            continue
        assert case.expected_sources, f"{case.id}: answerable case without expected sources"
        for group in case.expected:
            found = any(
                contains_phrase(texts[source], alternative)
                for source in case.expected_sources
                for alternative in group
            )
            assert found, f"{case.id}: none of {group} occurs in {case.expected_sources}"


def test_forbidden_strings_are_not_in_the_articles():
    texts = CorpusTexts(BUNDLED)
    every_text = " ".join(texts[p.name] for p in sorted(BUNDLED.iterdir()))
    for case in SEEDS.cases:
        for bad in case.forbidden:
            assert not contains_phrase(every_text, bad), f"{case.id}: {bad!r} is in the corpus"


def test_thresholds_file_is_read_and_gates_the_key_metrics():
    assert thresholds_path(SEEDS.path).is_file()
    gated = set(SEEDS.thresholds.min)
    assert "overall.citation_validity" in gated
    assert SEEDS.thresholds.min["overall.citation_validity"] == 1.0
    assert {"overall.correctness", "overall.hit_at_k", "overall.refusal_recall"} <= gated


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "seeds.jsonl:2: not valid JSON"),
        ('{"id": "x", "kind": "gossip", "question": "q", "expected": [["a"]]}',
         "seeds.jsonl:2: case 'x' kind 'gossip' is not one of"),
        ('{"id": "x", "kind": "single_fact", "question": "q"}',
         "an answerable case needs 'expected'"),
        (('{"id": "x", "kind": "multi_turn", "question": "q", "turns": ["a", "b"], '
         '"expected": [["a"]]}'), "give exactly one of 'question' or 'turns'"),
        ('{"id": "x", "kind": "single_fact", "question": "q", "expected": ["a"]}',
         "seeds.jsonl:2: case 'x' expected.0: Input should be a valid list"),
        ('{"id": "x", "kind": "single_fact", "question": "q", "expected": [["a"]], "typo": 1}',
         "typo: Extra inputs are not permitted"),
        ('{"id": "a", "kind": "single_fact", "question": "q", "expected": [["a"]]}',
         "seeds.jsonl:2: duplicate case id 'a' (first on line 1)"),
    ],
)
def test_malformed_suite_lines_are_reported_with_file_and_line(line, message):
    first = json.dumps({"id": "a", "kind": "single_fact", "question": "q", "expected": [["a"]]})
    with pytest.raises(SuiteError) as error:
        parse_cases(first + "\n" + line + "\n", "seeds.jsonl")
    assert message in str(error.value)


def test_bad_thresholds_and_missing_suite_are_reported(tmp_path):
    suite = tmp_path / "mine.jsonl"
    suite.write_text('{"id": "a", "kind": "unanswerable", "question": "q", '
                     '"expect_refusal": true}\n')
    (tmp_path / "mine.thresholds.json").write_text('{"min": {"overall.accuracy": 0.5}}')
    with pytest.raises(SuiteError, match="mine.thresholds.json: .*'overall.accuracy' is not"):
        load_suite(suite)
    with pytest.raises(SuiteError, match="no suite file nowhere.jsonl"):
        load_suite("nowhere.jsonl")


def test_seed_suite_meets_its_thresholds_on_the_offline_backend(bundled_index, tmp_path, capsys):
    code = run_cli(bundled_index, suite="seeds", backend="extractive", out_dir=tmp_path / "r")
    printed = capsys.readouterr().out
    print(printed)  # shown by pytest when the gate fails
    assert code == 0, printed
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    overall = results["suites"][0]["runs"][0]["summary"]["overall"]
    assert overall["cases"] == len(SEEDS.cases)
    assert overall["citation_validity"] == 1.0


def test_suite_header_marks_split_and_corpus():
    from evals.suite import parse_suite

    header, cases = parse_suite(
        '{"suite": {"split": "test", "corpus": "bbc"}}\n'
        '{"id": "a", "kind": "single_fact", "question": "q", "expected": [["a"]]}\n', "x.jsonl")
    assert (header.split, header.corpus, len(cases)) == ("test", "bbc", 1)
    assert parse_suite('{"id": "a", "kind": "unanswerable", "question": "q", '
                       '"expect_refusal": true}\n', "x.jsonl")[0].split == "dev"
    with pytest.raises(SuiteError, match="x.jsonl:1: suite header split: Input should be"):
        parse_suite('{"suite": {"split": "train"}}\n', "x.jsonl")
    assert SEEDS.split == "dev"
