"""Follow-up questions rewritten into standalone queries (the offline rule)."""

from __future__ import annotations

import pytest

from rag.ask import Engine
from rag.rewrite import needs_context, rule_rewrite

TURKEY = "What did Turkey's foreign minister say about Aleppo?"


@pytest.fixture(scope="module")
def engine(bundled_index):
    return Engine(bundled_index)


@pytest.mark.parametrize(("question", "leans"), [
    ("When did he say it?", True), ("And the SDF?", True), ("What about Idlib?", True),
    ("How many artillery shells were seized in the Damascus countryside?", False),
])
def test_needs_context(question, leans):
    assert needs_context(question) is leans


def test_rule_carries_the_previous_turns_terms_and_names():
    history = [(TURKEY, "Turkish Foreign Minister Hakan Fidan hoped for calm [1].")]
    query = rule_rewrite("When did he say it?", history)
    assert query.startswith("When did he say it?")
    assert "Turkey's" in query and "Aleppo" in query and "Hakan Fidan" in query
    assert rule_rewrite("Who commands CENTCOM?", history) == "Who commands CENTCOM?"


def test_follow_up_retrieves_and_answers_from_the_right_passage(engine, bundled_index):
    first = engine.ask(TURKEY)
    answer = engine.ask("When did he say it?", [(TURKEY, first.text)])
    assert answer.query != "When did he say it?"
    assert not answer.refused
    [citation] = [c for c in answer.citations if "Hakan Fidan" in c.quote]
    assert citation.source == "004_94450483d03d6010.txt" and "Thursday" in citation.quote


def test_without_history_the_same_words_are_not_enough(engine):
    assert engine.ask("When did he say it?").refused


def test_rule_carries_the_short_answer_and_nothing_from_a_digest():
    short = [("Who is the US envoy?", ("**Tom Barrack**: The diplomat said US envoy Tom Barrack "
              "was en route to Damascus, far from Palmyra. [1]"))]
    assert rule_rewrite("Where was he going?", short).endswith("envoy Tom Barrack")
    digest = [("What happened in Idlib?", ("What the articles say, newest first (2 articles):\n"
               "- undated: Gunmen attacked a convoy in Idlib. [1]\n- undated: Palmyra ... [2]"))]
    query = rule_rewrite("and how many were injured?", digest)
    assert "Idlib" in query and "Palmyra" not in query and "convoy" not in query
