"""The answerer's training procedure, on small made-up data (no suites, no archive)."""

import random
from types import SimpleNamespace

from evals.train_answerer import Asked, best_threshold, held_out_outcomes
from rag.extractive.evidence import FEATURES


def test_the_threshold_is_the_one_that_gets_most_right_ties_going_higher():
    confidences = [0.9, 0.6, 0.35, 0.2]
    outcomes = [(True, True), (True, True), (False, False), (False, False)]
    assert best_threshold(confidences, outcomes) == 0.6  # 0.4 ... 0.6 all get 4 right
    assert best_threshold([0.9, 0.2], [(True, True), (True, True)]) == 0.2


def made_up_questions(count: int = 40, flipped: str | None = None) -> list[Asked]:
    """Questions of three candidate sentences each; a sentence holds the answer when it
    says "yes", and `flipped` is asked for "maybe" instead (none of its sentences hold it)."""
    rng = random.Random(7)
    asked = []
    for n in range(count):
        case_id = f"q{n}"
        case = SimpleNamespace(id=case_id, expected_sources=["a.txt"],
                               expected=[["maybe" if case_id == flipped else "yes"]])
        candidates = []
        for i in range(3):
            right = i == 0 and n % 3 != 0
            features = {name: rng.random() for name in FEATURES}
            features["coverage"] = 0.9 if right else rng.random() * 0.5
            features["names_article"] = 1.0
            candidates.append(SimpleNamespace(
                chunk=SimpleNamespace(source="a.txt"), start=i, features=features,
                text="yes" if right else "no", probability=0.0))
        asked.append(Asked(case, [candidates], answerable=n % 5 != 0))
    return asked


def test_a_question_s_confidence_comes_from_models_fitted_without_it():
    """Changing what one question expects changes the models of the other folds, not of
    its own: its held-out confidence stays as it was."""
    confidences, outcomes = held_out_outcomes(made_up_questions())
    changed, changed_outcomes = held_out_outcomes(made_up_questions(flipped="q4"))
    assert len(confidences) == 40 and all(0.0 <= c <= 1.0 for c in confidences)
    assert outcomes[4] == (True, True) and changed_outcomes[4] == (True, False)
    assert changed != confidences  # the other folds' models did move
    assert changed[4] == confidences[4]
