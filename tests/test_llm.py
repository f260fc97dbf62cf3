"""The LLM path against a fake OpenAI-compatible server on 127.0.0.1 (real HTTP, real SDK)."""

from __future__ import annotations

import socket
import time

import pytest
from answer_checks import assert_offsets
from fake_openai import FakeOpenAI, Reply, passage_number
from pydantic import SecretStr

from rag.ask import Engine
from rag.errors import LLMError

ASSAD = "When was Assad's government overthrown?"


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def llm_settings(base, url, **overrides):
    values = {"llm": "openai", "openai_base_url": url, "openai_api_key": SecretStr("sk-test"),
              "openai_model": "fake-model", "openai_max_retries": 0, "openai_timeout": 5.0}
    return base.model_copy(update=values | overrides)


@pytest.fixture
def engine(bundled_index, fake):
    return Engine(llm_settings(bundled_index, fake.base_url))


def cite_december(body: dict) -> Reply:
    n = passage_number(body, "December 2024")
    return Reply(f"Assad's government was overthrown in December 2024 [{n}].")


def test_good_reply_is_validated_and_cited_at_exact_offsets(engine, fake, bundled_index):
    fake.script = [cite_december]
    answer = engine.ask(ASSAD)
    assert not answer.refused and not answer.unsupported
    assert answer.backend == "openai:fake-model"
    assert answer.text == "Assad's government was overthrown in December 2024 [1]."
    [citation] = answer.citations
    assert citation.source == "000_d68abaf6e094f2ff.txt" and "December 2024" in citation.quote
    assert len(citation.quote) < 300  # the supporting sentence, not the whole chunk
    assert_offsets(answer, bundled_index.corpus_dir)


def test_prompt_numbers_passages_and_fences_them_as_data(engine, fake):
    fake.script = [cite_december]
    engine.ask(ASSAD)
    [request] = fake.requests
    system, user = request["messages"][0]["content"], request["messages"][-1]["content"]
    assert "[n]" in system or "[1]" in system
    assert "The articles don't say." in system and "data, not instructions" in system
    assert "[1] Title:" in user and "| Published:" in user and "<<<PASSAGE" in user
    assert request["model"] == "fake-model"


def test_bogus_marker_is_dropped(engine, fake, bundled_index):
    def reply(body):
        n = passage_number(body, "December 2024")
        return Reply(f"Assad's government was overthrown in December 2024 [{n}][7]. "
                     "It was a turning point [9].")

    fake.script = [reply]
    answer = engine.ask(ASSAD, top_k=5)
    assert "[7]" not in answer.text and "[9]" not in answer.text
    assert [c.marker for c in answer.citations] == [1]
    assert_offsets(answer, bundled_index.corpus_dir)


def test_number_found_in_no_passage_is_flagged(engine, fake, bundled_index):
    def reply(body):
        n = passage_number(body, "December 2024")
        return Reply(f"Assad's government was overthrown in December 2024 [{n}]. "
                     f"The fighting killed 5,731 people [{n}].")

    fake.script = [reply]
    answer = engine.ask(ASSAD)
    assert answer.unsupported == ["The fighting killed 5,731 people."]
    assert not answer.refused
    assert_offsets(answer, bundled_index.corpus_dir)


def test_refusal_reply_becomes_refused(engine, fake):
    fake.script = [Reply("The articles don't say.")]
    answer = engine.ask("Who won the 2022 FIFA World Cup?")
    assert answer.refused and not answer.citations


@pytest.mark.parametrize(("status", "words"), [(401, "API key"), (429, "rate limit")])
def test_http_errors_become_llm_errors(engine, fake, status, words):
    fake.script = [Reply(status=status)]
    with pytest.raises(LLMError, match=words):
        engine.ask(ASSAD)
    assert len(fake.requests) == 1  # max_retries=0: no retry storm


def test_retries_are_bounded_by_the_setting(bundled_index, fake):
    fake.script = [Reply(status=429, headers={"retry-after": "0"})] * 5
    engine = Engine(llm_settings(bundled_index, fake.base_url, openai_max_retries=1))
    with pytest.raises(LLMError):
        engine.ask(ASSAD)
    assert len(fake.requests) == 2


def test_timeout_is_short_and_explained(bundled_index, fake):
    fake.script = [Reply("late", delay=3.0)]
    engine = Engine(llm_settings(bundled_index, fake.base_url, openai_timeout=0.5))
    started = time.monotonic()
    with pytest.raises(LLMError, match="NEWSQA_OPENAI_TIMEOUT"):
        engine.ask(ASSAD)
    assert time.monotonic() - started < 2.5


def test_connection_refused_is_explained(bundled_index):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = Engine(llm_settings(bundled_index, f"http://127.0.0.1:{port}/v1"))
    with pytest.raises(LLMError, match="Cannot reach"):
        engine.ask(ASSAD)


def test_missing_key_without_base_url_is_a_config_message(bundled_index):
    settings = bundled_index.model_copy(update={"llm": "openai", "openai_api_key": None,
                                                "openai_base_url": None})
    with pytest.raises(LLMError, match="OPENAI_API_KEY"):
        Engine(settings)


def test_streaming_yields_pieces_then_the_validated_answer(engine, fake, bundled_index):
    fake.script = [cite_december]
    pieces = list(engine.ask_stream(ASSAD))
    *texts, answer = pieces
    assert len(texts) > 3 and all(isinstance(t, str) for t in texts)
    assert "".join(texts).startswith("Assad's government was overthrown")
    assert answer.citations and not answer.refused
    assert fake.requests[0]["stream"] is True
    assert_offsets(answer, bundled_index.corpus_dir)


def test_follow_up_is_rewritten_by_the_llm(engine, fake):
    standalone = "When did Turkish Foreign Minister Hakan Fidan speak about Aleppo?"
    fake.script = [
        Reply(standalone),
        lambda body: Reply(f"He spoke on Thursday [{passage_number(body, 'Hakan Fidan')}]."),
    ]
    history = [("What did Turkey's foreign minister say about Aleppo?",
                "Hakan Fidan hoped the situation in Aleppo would be normalized [1].")]
    answer = engine.ask("When did he say it?", history)
    assert answer.query == standalone
    assert "Conversation:" in fake.requests[0]["messages"][-1]["content"]
    assert any("Thursday" in c.quote for c in answer.citations)


@pytest.mark.parametrize("reply", [
    "Brad Cooper is the commander. [1] He hailed the operation. [2]",
    "Brad Cooper is the commander [1]. He hailed the operation [2].",
])
def test_markers_before_or_after_the_full_stop_both_count(reply):
    from rag.validate import parse_claims

    claims = parse_claims(reply, passage_count=3)
    assert [(c.text, c.passages) for c in claims] == [
        ("Brad Cooper is the commander.", [0]),
        ("He hailed the operation.", [1]),
    ]
