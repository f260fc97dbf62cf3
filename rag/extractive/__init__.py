"""The offline, extractive answerer: nothing here calls a network or an LLM.

Read in this order: `question.py` (what is asked), `evidence.py` (candidate sentences and
their features), `model.py` (the learned ranker and refusal decision), `answerer.py` (the
answer: short span, cited sentence, or a refusal), `digest.py` (broad requests), and
`analysis.py` (spaCy, underneath them all).
"""

from rag.extractive.answerer import REFUSAL, ExtractiveAnswerer
from rag.extractive.question import asked_part

__all__ = ["REFUSAL", "ExtractiveAnswerer", "asked_part"]
