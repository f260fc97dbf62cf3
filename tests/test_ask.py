"""The public entry points: ask() in a fresh process state, the Engine singleton, the CLI."""

from __future__ import annotations

import json
import logging

import pytest
from answer_checks import assert_offsets
from click.testing import CliRunner
from conftest import BUNDLED

from rag import Answer, Citation
from rag.ask import ask, ask_stream, get_engine, reset_engine
from rag.cli import main
from rag.render import format_answer_plain

ASSAD = "When was Assad's government overthrown?"


@pytest.fixture
def empty_store_env(monkeypatch, tmp_path):
    """Settings from the environment, as a user's shell gives them; no index, no engine."""
    monkeypatch.setenv("NEWSQA_CORPUS_DIR", str(BUNDLED))
    monkeypatch.setenv("NEWSQA_STORE_DIR", str(tmp_path / "store"))
    reset_engine()
    yield
    reset_engine()


@pytest.fixture
def fresh_env(monkeypatch, bundled_index):
    """Settings from the environment, pointing at the session's ingested store."""
    monkeypatch.setenv("NEWSQA_CORPUS_DIR", str(bundled_index.corpus_dir))
    monkeypatch.setenv("NEWSQA_STORE_DIR", str(bundled_index.store_dir))
    reset_engine()
    yield
    reset_engine()


def test_ask_builds_the_missing_index_then_reuses_the_engine(empty_store_env, caplog):
    caplog.set_level(logging.INFO)
    answer = ask(ASSAD)
    assert any("building the index" in r.getMessage() for r in caplog.records)
    assert isinstance(answer, Answer) and isinstance(answer.citations[0], Citation)
    assert "December 2024" in answer.citations[0].quote
    assert_offsets(answer, BUNDLED)
    assert get_engine() is get_engine()
    caplog.clear()
    ask(ASSAD)
    assert not any("building" in r.getMessage() for r in caplog.records)
    assert answer.timings.retrieval_ms > 0
    json.dumps(answer.model_dump())  # JSON-serializable


def test_ask_stream_yields_text_then_the_answer(fresh_env):
    *texts, answer = list(ask_stream(ASSAD))
    assert len(texts) > 1 and "".join(texts) == answer.text  # streamed, like an LLM's
    assert isinstance(answer, Answer)


def test_plain_rendering_lists_numbered_sources(fresh_env):
    text = format_answer_plain(ask(ASSAD))
    assert "[1]" in text and "Sources:" in text
    assert "000_d68abaf6e094f2ff.txt" in text and "December 2024" in text


def test_cli_ask_plain_and_json(fresh_env):
    runner = CliRunner()
    plain = runner.invoke(main, ["ask", ASSAD])
    assert plain.exit_code == 0, plain.output
    assert "Sources:" in plain.output and "000_d68abaf6e094f2ff.txt" in plain.output
    as_json = runner.invoke(main, ["ask", "--json", ASSAD])
    assert as_json.exit_code == 0, as_json.output
    payload = json.loads(as_json.output[as_json.output.index("{"):])
    assert payload["refused"] is False and payload["citations"][0]["start"] >= 0


def test_cli_filters_reach_retrieval(fresh_env):
    result = CliRunner().invoke(main, ["ask", "--json", "--source", "003_e7575791f94f3015.txt",
                                       ASSAD])
    payload = json.loads(result.output[result.output.index("{"):])
    assert {c["source"] for c in payload["citations"]} <= {"003_e7575791f94f3015.txt"}


def test_cli_unknown_source_is_an_error_naming_the_close_ones(fresh_env):
    result = CliRunner().invoke(main, ["ask", "--source", "003.txt", ASSAD])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "No indexed article file is named '003.txt'" in result.output


def test_cli_ingest_of_a_missing_or_empty_corpus_says_so(monkeypatch, tmp_path):
    """#12: both exited 0 with "files: 0"."""
    from rag.config import get_settings

    monkeypatch.setenv("NEWSQA_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("NEWSQA_EMBEDDER", "hash")
    monkeypatch.setenv("NEWSQA_CORPUS_DIR", str(tmp_path / "nowhere"))
    missing = CliRunner().invoke(main, ["ingest"])
    assert missing.exit_code == 2 and "does not exist: create it" in missing.output
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("NEWSQA_CORPUS_DIR", str(tmp_path / "empty"))
    get_settings.cache_clear()  # settings are read once per process
    empty = CliRunner().invoke(main, ["ingest"])
    assert empty.exit_code == 2 and "No article files in" in empty.output
    assert ".docx" in empty.output and ".pdf" in empty.output


def test_cli_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and "0.1.0" in result.output


def test_cli_shows_llm_errors_as_one_line(fresh_env, monkeypatch):
    monkeypatch.setenv("NEWSQA_LLM", "openai")
    result = CliRunner().invoke(main, ["ask", ASSAD])
    assert result.exit_code == 2
    assert "OPENAI_API_KEY" in result.output and "Traceback" not in result.output


def test_citations_carry_the_date_as_written_when_its_year_is_unknown(bundled_index):
    from rag.ask import Engine

    answer = Engine(bundled_index).ask("Who is Syria's Minister of Information?")
    cited = [c for c in answer.citations if c.source.startswith("003_")]
    assert cited and cited[0].published is None
    assert cited[0].date_text == "11:21 AM on Tuesday, November 11"
    assert "(year not given)" in format_answer_plain(answer)


def test_filters_may_be_given_as_a_plain_dict(bundled_index):
    from rag.ask import Engine

    engine = Engine(bundled_index)
    answer = engine.ask("Who carried out the airstrikes?", filters={"until": "2021-12-31"})
    assert answer.citations and all(c.published == "2021-06-29" for c in answer.citations)
    dated = engine.retrieve("Aleppo fighting", filters={"since": "2026-01-01"})
    assert dated.hits and all(h.chunk.published == "2026-01-10" for h in dated.hits)


def test_an_overlong_question_is_refused_with_a_message(fresh_env):
    """#11: a 1M-character question cost 14 s of CPU and 125 MB."""
    from rag.ask import ask
    from rag.errors import QuestionError

    with pytest.raises(QuestionError, match="up to 2,000"):
        ask("why " * 300_000)


def test_a_lone_surrogate_in_the_question_is_read(fresh_env):
    """#11: a lone surrogate (a broken paste) raised TypeError."""
    from rag.ask import ask

    answer = ask("When was Assad's government \udc80 overthrown?")
    assert answer.citations
