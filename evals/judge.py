"""LLM-as-judge faithfulness (LlamaIndex's FaithfulnessEvaluator) on the configured
OpenAI-compatible endpoint. Optional: the runner uses it only when an LLM is configured."""

from __future__ import annotations

import logging
from collections.abc import Callable

from rag.config import Settings

log = logging.getLogger(__name__)


def llm_configured(settings: Settings) -> bool:
    """An API key or a base URL (a local server needs no key) means there is an LLM to ask."""
    return settings.openai_api_key is not None or bool(settings.openai_base_url)


def faithfulness_judge(settings: Settings, llm=None) -> Callable[[str, str, list[str]], float | None]:
    """judge(question, answer_text, cited_quotes) -> 1.0 faithful, 0.0 not, None on error.

    The LLM is the one rag answers with (same endpoint, timeout and retries)."""
    import openai
    from llama_index.core.evaluation import FaithfulnessEvaluator

    from rag.generate import make_llm

    evaluator = FaithfulnessEvaluator(llm=llm or make_llm(settings))

    def judge(question: str, answer_text: str, contexts: list[str]) -> float | None:
        try:
            result = evaluator.evaluate(query=question, response=answer_text, contexts=contexts)
        except openai.OpenAIError as error:  # a failing judge must not fail the run
            log.warning("faithfulness judge failed: %s", error)
            return None
        return 1.0 if result.passing else 0.0

    return judge
