"""The two small learned decisions of the offline answerer, as logistic models over named
evidence features, loaded from `model.json` (trained by `evals/train_answerer.py` on dev
suites only; the file lists what it saw):

- the ranker: a score per sentence from its features, trained on pairs (a sentence that holds
  the answer against one of the same question that does not); a softmax over the question's
  sentences turns the scores into each sentence's share of the belief;
- the refusal model: P(the best sentence's answer is right) from the best sentence's features
  and how far ahead of the runner-up it is. Under `threshold` the answerer declines.

`Logistic(["a", "b"], [2.0, -1.0], 0.5).probability({"a": 1.0, "b": 0.0})` -> 0.924
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rag.extractive.evidence import FEATURES

MODEL_PATH = Path(__file__).with_name("model.json")
REFUSAL_FEATURES = ("best", "margin", *(f"top_{name}" for name in FEATURES))


@dataclass(frozen=True)
class Logistic:
    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float

    def score(self, values: dict[str, float]) -> float:
        return self.bias + sum(w * values[f] for f, w in zip(self.features, self.weights,
                                                              strict=True))

    def probability(self, values: dict[str, float]) -> float:
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, self.score(values)))))

    def to_json(self) -> dict:
        return {"features": list(self.features), "weights": [round(w, 6) for w in self.weights],
                "bias": round(self.bias, 6)}

    @classmethod
    def from_json(cls, data: dict) -> Logistic:
        return cls(tuple(data["features"]), tuple(data["weights"]), data["bias"])


@dataclass(frozen=True)
class AnswererModel:
    ranker: Logistic
    refusal: Logistic
    threshold: float


def shares(scores: list[float]) -> list[float]:
    """Softmax of the ranker's scores: each sentence's share of the belief."""
    if not scores:
        return []
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    return [e / sum(exps) for e in exps]


def refusal_inputs(best, runner_up) -> dict[str, float]:
    """What the refusal model reads: the best candidate's features and its lead."""
    values = {"best": best.probability,
              "margin": best.probability - (runner_up.probability if runner_up else 0.0)}
    values.update({f"top_{name}": best.features[name] for name in FEATURES})
    return values


@lru_cache(maxsize=4)
def load_model(path: Path = MODEL_PATH) -> AnswererModel:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return AnswererModel(Logistic.from_json(data["ranker"]), Logistic.from_json(data["refusal"]),
                         data["threshold"])
