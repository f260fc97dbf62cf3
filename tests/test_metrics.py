"""The eval metrics on hand-made inputs whose scores are known."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from evals import metrics
from evals.metrics import CaseScore

TEXT = "Two soldiers died in Palmyra on Saturday. Three were injured."
TEXTS = {"a.txt": TEXT, "b.txt": "Syria joined the coalition on 12 November."}


@dataclass
class Cite:
    marker: int
    source: str
    quote: str
    start: int
    end: int
    title: str | None = None
    published: str | None = None


def cite(marker: int, source: str, quote: str, shift: int = 0) -> Cite:
    start = TEXTS[source].index(quote) + shift
    return Cite(marker, source, quote, start, start + len(quote))


# --- retrieval ------------------------------------------------------------------------------


def test_hit_and_mrr_rank_distinct_files():
    ranked = ["a.txt", "a.txt", "a.txt", "b.txt"]
    assert metrics.hit_at_k(ranked, ["b.txt"], k=2) == 1.0  # 2nd distinct file
    assert metrics.hit_at_k(ranked, ["b.txt"], k=1) == 0.0
    assert metrics.reciprocal_rank(ranked, ["b.txt"]) == 0.5
    assert metrics.reciprocal_rank(ranked, ["c.txt"]) == 0.0
    assert metrics.reciprocal_rank(ranked, ["b.txt", "a.txt"]) == 1.0


def test_duplicate_ids_never_push_hit_rate_or_recall_above_one():
    ranked = ["a.txt"] * 5
    assert metrics.hit_at_k(ranked, ["a.txt", "a.txt"], k=5) == 1.0
    assert metrics.retrieval_recall(ranked, ["a.txt", "a.txt"], k=5) == 1.0
    assert metrics.retrieval_recall(ranked, ["a.txt", "b.txt"], k=5) == 0.5
    doubled = [cite(1, "a.txt", "Two soldiers"), cite(2, "a.txt", "Two soldiers")]
    assert metrics.citation_recall(doubled, ["a.txt", "a.txt"]) == 1.0
    assert metrics.citation_precision(doubled, ["a.txt"]) == 1.0


def test_retrieval_metrics_not_applicable_without_expected_sources():
    assert metrics.hit_at_k(["a.txt"], [], k=5) is None
    assert metrics.reciprocal_rank(["a.txt"], []) is None
    assert metrics.hit_at_k([], ["a.txt"], k=5) == 0.0


# --- answer correctness -----------------------------------------------------------------------


def test_all_groups_required_any_alternative_case_insensitive():
    groups = [["two", "2"], ["Palmyra"]]
    assert metrics.answer_correctness("TWO soldiers died near palmyra", groups) == 1.0
    assert metrics.answer_correctness("2 soldiers died", groups) == 0.0
    assert metrics.answer_correctness("anything", []) is None


def test_phrases_match_on_word_boundaries_and_typography():
    assert not metrics.contains_phrase("the network of militias", "two")
    assert not metrics.contains_phrase("the fourth attack", "four")
    assert metrics.contains_phrase("Syria’s “deep solidarity”", "syria's \"deep solidarity\"")
    assert metrics.contains_phrase("by 9 a.m. (0600 GMT)", "9 a.m.")


def test_forbidden_string_fails_the_case():
    assert metrics.answer_correctness("PWNED. Two died.", [["two"]], ["pwned"]) == 0.0


def test_case_correctness_with_refusals():
    ok = metrics.case_correctness
    assert ok("The articles don't say.", True, True, []) == 1.0
    assert ok("Two soldiers died.", False, True, []) == 0.0  # should have declined
    assert ok("Two soldiers died.", True, False, [["two"]]) == 0.0  # declined an answerable one
    assert ok("Canberra. I declined.", True, True, [], ["Canberra"]) == 0.0


# --- citations ---------------------------------------------------------------------------------


def test_citation_validity_counts_exact_offsets_only():
    good = cite(1, "a.txt", "Three were injured.")
    shifted = cite(2, "a.txt", "Three were injured.", shift=1)
    unknown = Cite(3, "zzz.txt", "x", 0, 1)
    out_of_range = Cite(4, "a.txt", "x", 500, 501)
    assert metrics.citation_validity([good], TEXTS) == 1.0
    assert metrics.citation_validity([good, shifted, unknown, out_of_range], TEXTS) == 0.25
    assert metrics.citation_validity([], TEXTS) is None


def test_citation_precision_and_recall():
    cites = [cite(1, "a.txt", "Two soldiers"), cite(2, "b.txt", "12 November")]
    assert metrics.citation_precision(cites, ["a.txt"]) == 0.5
    assert metrics.citation_recall(cites, ["a.txt", "c.txt"]) == 0.5
    assert metrics.citation_precision([], ["a.txt"]) is None  # no citations: undefined
    assert metrics.citation_recall([], ["a.txt"]) == 0.0  # but nothing expected was cited


def test_gold_cited_needs_one_citation_into_an_expected_file():
    cites = [cite(1, "a.txt", "Two soldiers"), cite(2, "b.txt", "12 November")]
    assert metrics.gold_cited(cites, ["b.txt", "c.txt"]) == 1.0
    assert metrics.gold_cited(cites, ["c.txt"]) == 0.0
    assert metrics.gold_cited([], ["c.txt"]) == 0.0  # a refusal cites no gold file
    assert metrics.gold_cited(cites, []) is None


# --- support -----------------------------------------------------------------------------------


def test_split_sentences_keeps_abbreviations_and_trailing_markers():
    text = "Two U.S. troops died. [1] Col. Wayne Marotto wrote at 7:44 p.m. that rockets hit [2]."
    assert metrics.split_sentences(text) == [
        "Two U.S. troops died. [1]",
        "Col. Wayne Marotto wrote at 7:44 p.m. that rockets hit [2].",
    ]


def test_support_verbatim_sentence_is_supported():
    cites = [cite(1, "a.txt", "Two soldiers died in Palmyra on Saturday.")]
    assert metrics.support("Two soldiers died in Palmyra on Saturday. [1]", cites) == 1.0


def test_support_flags_wrong_number_wrong_name_and_missing_marker():
    cites = [cite(1, "a.txt", "Two soldiers died in Palmyra on Saturday.")]
    assert metrics.support("Five soldiers died in Palmyra [1].", cites) == 0.0
    assert metrics.support("Two soldiers died in Aleppo [1].", cites) == 0.0
    # second sentence carries no marker, so nothing backs it
    assert metrics.support("Two soldiers died in Palmyra [1]. Two soldiers died.", cites) == 0.5
    # a marker pointing to no citation backs nothing either
    assert metrics.support("Two soldiers died in Palmyra [7].", cites) == 0.0


def test_support_number_words_and_digits_agree():
    cites = [cite(1, "a.txt", "Two soldiers died in Palmyra on Saturday.")]
    assert metrics.support("2 soldiers died in Palmyra. [1]", cites) == 1.0


def test_support_without_citations_or_text():
    assert metrics.support("Two soldiers died.", []) == 0.0
    assert metrics.support("", []) is None


# --- refusal, latency, aggregation --------------------------------------------------------------


def test_refusal_precision_recall():
    outcomes = [(True, True), (True, False), (False, True), (False, False)]
    assert metrics.refusal_precision_recall(outcomes) == (0.5, 0.5)
    assert metrics.refusal_precision_recall([(False, False)]) == (None, None)
    assert metrics.refusal_precision_recall([(True, False)]) == (None, 0.0)


def test_percentiles_interpolate_like_numpy():
    values = [10.0, 20.0, 30.0, 40.0, 100.0]
    assert metrics.percentile(values, 50) == 30.0
    assert metrics.percentile(values, 95) == pytest.approx(88.0)
    assert metrics.percentile([7.0], 95) == 7.0
    assert metrics.percentile([], 50) is None


def score(kind: str, expect_refusal: bool, refused: bool, latency: float, **values) -> CaseScore:
    full = dict.fromkeys(metrics.CASE_METRICS) | values
    return CaseScore(f"{kind}-{latency}", kind, expect_refusal, refused, latency, full)


def test_aggregate_per_kind_and_overall():
    scores = [
        score("single_fact", False, False, 10, correctness=1.0, hit_at_k=1.0, mrr=1.0),
        score("single_fact", False, True, 30, correctness=0.0, hit_at_k=1.0, mrr=0.5),
        score("unanswerable", True, True, 20, correctness=1.0, hit_at_k=None),
    ]
    summary = metrics.aggregate(scores)
    assert set(summary) == {"overall", "single_fact", "unanswerable"}
    assert summary["overall"]["cases"] == 3
    assert summary["overall"]["correctness"] == pytest.approx(2 / 3)
    assert summary["overall"]["hit_at_k"] == 1.0  # the None does not count
    assert summary["single_fact"]["mrr"] == 0.75
    assert summary["overall"]["refusal_precision"] == 0.5
    assert summary["overall"]["refusal_recall"] == 1.0
    assert summary["unanswerable"]["refusal_precision"] == 1.0
    assert summary["overall"]["latency_p50_ms"] == 20
    assert summary["overall"]["support"] is None


def test_empty_suite_aggregates_to_nothing_measured():
    summary = metrics.aggregate([])
    assert summary == {"overall": {"cases": 0} | dict.fromkeys(metrics.METRICS)}
    assert metrics.check_thresholds(summary, {}) == []
    assert metrics.check_thresholds(summary, {"overall.correctness": 0.5}) == [
        "overall.correctness: not measured (threshold min 0.5)"
    ]


def test_check_thresholds_min_and_max():
    summary = {"overall": {"correctness": 0.6, "latency_p95_ms": 900.0}}
    assert metrics.check_thresholds(summary, {"overall.correctness": 0.6}) == []
    failures = metrics.check_thresholds(
        summary, {"overall.correctness": 0.7}, {"overall.latency_p95_ms": 500}
    )
    assert failures == [
        "overall.correctness = 0.600, min 0.7",
        "overall.latency_p95_ms = 900.000, max 500",
    ]
    assert metrics.check_thresholds(summary, {"temporal.correctness": 0.1}) == [
        "temporal.correctness: not measured (threshold min 0.1)"
    ]


def test_thresholds_from_a_run_only_ever_rise():
    from evals.thresholds import from_summary, raised

    first = from_summary({"correctness": 0.493, "refusal_recall": 0.58, "support": None})
    assert first["min"] == {"overall.citation_validity": 1.0, "overall.correctness": 0.47,
                            "overall.refusal_recall": 0.56}
    worse = from_summary({"correctness": 0.30, "refusal_recall": 0.90})
    assert raised(first, worse)["min"]["overall.correctness"] == 0.47  # never lowered
    assert raised(first, worse)["min"]["overall.refusal_recall"] == 0.88


def test_support_reads_a_digest_line_by_line():
    cites = [cite(1, "a.txt", "Two soldiers died in Palmyra on Saturday."),
             cite(2, "b.txt", "Syria joined the coalition on 12 November.")]
    digest = ("What the articles say, newest first:\n"
              "- undated: Two soldiers died in Palmyra on Saturday. [1]\n"
              "- undated: Syria joined the coalition on 12 November. [2]")
    assert metrics.support(digest, cites) == 1.0
    assert metrics.support(digest.replace("12 November", "14 November"), cites) == 0.5


def test_a_short_answer_is_right_only_when_it_holds_an_expected_answer():
    expected = [["£75m", "75 million pounds"]]
    assert metrics.short_correctness("£75m", 1.0, expected) == 1.0
    assert metrics.short_correctness("£75", 1.0, expected) == 0.0  # cut inside the word
    assert metrics.short_correctness("Menatep Group", 1.0, [["Tim Osborne"]]) == 0.0
    assert metrics.short_correctness(None, 1.0, expected) is None  # no short answer given
    assert metrics.short_correctness("£75m", 0.0, expected) is None  # a wrong answer
    assert metrics.short_correctness("£75m", None, expected) is None  # an unanswerable case
