"""The local LLM backend (`NEWSQA_LLM=local`): each packaged model in each prompt mode.

    python -m evals.bench_local [--models qwen2.5-coder-0.5b,qwen2.5-coder-1.5b] [--questions N]

For whole passages (top_k 5) and evidence first (the 4 best sentences), on the first N
questions of the seeds suite: prompt tokens, prompt and generation tokens/s as llama.cpp
reports them, time to the first token, end-to-end seconds per question through `ask()`, and
the process's memory with the model loaded. Models are fetched from PyPI on first use.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request

import psutil

from evals.suite import load_suite
from rag.config import Settings

MODES = {"whole passages": 0, "evidence first": 4}
MODELS_BENCHED = ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")


def server_timings(base_url: str, model: str, messages, max_tokens: int) -> dict:
    """One streamed request straight to llama.cpp: time to first token, and its timings."""
    body = {"model": model, "stream": True, "max_tokens": max_tokens, "temperature": 0,
            "messages": [{"role": m.role.value, "content": m.content} for m in messages],
            "stream_options": {"include_usage": True}}
    request = urllib.request.Request(f"{base_url}/chat/completions", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    began, first, timings = time.perf_counter(), None, {}
    with urllib.request.urlopen(request, timeout=600) as response:
        for line in response:
            if not line.startswith(b"data: ") or line.strip() == b"data: [DONE]":
                continue
            event = json.loads(line[6:])
            delta = (event.get("choices") or [{}])[0].get("delta", {})
            if first is None and delta.get("content"):
                first = time.perf_counter() - began
            timings = event.get("timings", timings)
    return {"ttft": first or 0.0, **timings}


def bench_model(name: str, questions: list[str], settings: Settings) -> list[str]:
    from rag.ask import Engine
    from rag.generate import build_messages

    lines = []
    for mode, sentences in MODES.items():
        on = settings.model_copy(update={"llm": "local", "local_model_name": name,
                                         "llm_evidence_sentences": sentences,
                                         "openai_timeout": 600.0})
        engine = Engine(on)
        generator = engine.generator
        rss = psutil.Process().memory_info().rss / 2**20
        stats, seconds = [], []
        for question in questions:
            retrieval = engine.retrieve(question)
            hits = engine.llm_passages(question, retrieval)
            messages, _ = build_messages(question, hits, generator.settings)
            stats.append(server_timings(generator.settings.openai_base_url,
                                        generator.settings.openai_model, messages,
                                        on.llm_max_tokens))
            began = time.perf_counter()
            engine.ask(question)
            seconds.append(time.perf_counter() - began)

        median = _medians(stats)
        lines.append(
            f"{name:20} {mode:15} prompt {median('prompt_n'):6.0f} tok  "
            f"{median('prompt_per_second'):6.1f} tok/s  generation {median('predicted_per_second'):5.1f} "
            f"tok/s  first token {median('ttft'):5.1f} s  ask() {statistics.median(seconds):5.1f} s "
            f"(max {max(seconds):5.1f})  RSS {rss:5.0f} MB")
        print(lines[-1], flush=True)
    return lines


def _medians(stats: list[dict]):
    return lambda key: statistics.median(s.get(key, 0.0) for s in stats)


def run(models: list[str], count: int) -> list[str]:
    settings = Settings()
    suite = load_suite("seeds")
    questions = [c.questions[-1] for c in suite.cases if len(c.questions) == 1][:count]
    print(f"{len(questions)} questions of the seeds suite, 2 threads, OMP_WAIT_POLICY=PASSIVE")
    lines = []
    for name in models:
        lines += bench_model(name, questions, settings)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS_BENCHED))
    parser.add_argument("--questions", type=int, default=6)
    args = parser.parse_args()
    run([m.strip() for m in args.models.split(",") if m.strip()], args.questions)


if __name__ == "__main__":
    main()
