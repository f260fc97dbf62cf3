"""The chat page: built without serving, then served on a free loopback port and driven
through gradio_client, with a fake engine and with the real one on the bundled index."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import threading

import pytest
from conftest import BUNDLED, ROOT
from fake_openai import FakeOpenAI, Reply, passage_number
from gradio_client import Client
from gradio_client.exceptions import AppError, AuthenticationError
from pydantic import SecretStr
from ui_fakes import FakeEngine, free_port, served

from rag.errors import ConfigError, IndexMissingError, LLMError
from ui.app import build_app, examples_for, login_of, serve

TROOPS = "How many American troops died in the Palmyra attack?"
ASSAD = "When was Assad's government overthrown?"
TURKEY = "What did Turkey's foreign minister say about Aleppo?"


@pytest.fixture
def fake():
    return FakeEngine(BUNDLED)


@pytest.fixture
def page(fake, settings):
    with served(fake, settings) as url:
        yield url


def client(url: str, **options) -> Client:
    return Client(url, verbose=False, **options)


def ask(chat: Client, question: str):
    """One question through the page's API: (chat messages, sources html)."""
    messages, sources, _box = chat.predict(message=question, api_name="/respond")
    return messages, sources


def text_of(message: dict) -> str:
    content = message["content"]
    return content if isinstance(content, str) else "".join(part["text"] for part in content)


def marked(sources: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r"<mark>(.*?)</mark>", sources, re.DOTALL)]


def assert_marks_are_file_spans(sources: str, corpus_dir) -> None:
    """Every highlighted quote is text of the cited file (the panel read it there)."""
    files = re.findall(r'class="nq-meta">[^<]*· ([\w.]+)</div>', sources)
    quotes = marked(sources)
    assert quotes and len(files) == len(quotes)
    for source, quote in zip(files, quotes, strict=True):
        assert quote in (corpus_dir / source).read_text(encoding="utf-8")


# -- building --------------------------------------------------------------------------------

def test_build_app_builds_without_serving_or_opening_the_index(settings):
    app = build_app(settings=settings)
    assert not app.is_running
    assert not settings.store_dir.exists()  # the engine is made on first use, not here
    names = {fn.api_name for fn in app.fns.values() if fn.api_visibility == "public"}
    assert names == {"respond", "clear", "status", "library_upload", "library_import",
                     "library_delete", "library_reread"}


def test_examples_come_from_articles_in_the_served_corpus(tmp_path):
    assert len(examples_for(BUNDLED)) == 5
    assert examples_for(tmp_path) == []


def test_login_needs_both_user_and_password(settings):
    assert login_of(settings) is None
    both = settings.model_copy(update={"ui_user": "ann", "ui_password": SecretStr("pw")})
    login = login_of(both)
    assert login("ann", "pw") and not login("ann", "wrong") and not login("bob", "pw")
    with pytest.raises(ConfigError, match="NEWSQA_UI_PASSWORD"):
        login_of(settings.model_copy(update={"ui_user": "ann"}))


# -- served, with the fake engine --------------------------------------------------------------

def test_answer_streams_into_the_chat_with_its_sources(page, fake):
    chat = client(page)
    job = chat.submit(message=TROOPS, api_name="/respond")
    messages, sources, _ = job.result(timeout=30)
    assert len(job.outputs()) >= 4  # placeholder, streamed pieces, final answer
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert text_of(messages[0]) == TROOPS
    assert "two American troops" in text_of(messages[1]) and "[1]" in text_of(messages[1])
    assert "Sources (1)" in sources and 'class="nq-marker">[1]' in sources
    assert "two American troops" in marked(sources)[0]
    assert_marks_are_file_spans(sources, BUNDLED)
    assert chat.predict(api_name="/status").startswith("Backend: **fake** · 5 articles")


def test_follow_up_sends_the_conversation_and_clear_forgets_it(page, fake):
    chat = client(page)
    _, _ = ask(chat, TROOPS)
    messages, _ = ask(chat, "Who ambushed them?")
    assert len(messages) == 4
    # Each answer's markers lead to its own entries, and the panel keeps them all.
    assert 'href="#nq-source-2-1"' in text_of(messages[3])
    assert 'href="#nq-source-1-1"' in text_of(messages[1])
    (asked, history), = fake.calls[1:]
    assert fake.calls[0] == (TROOPS, []) and asked == "Who ambushed them?"
    assert [q for q, _ in history] == [TROOPS] and "<" not in history[0][1]
    assert history[0][1].split("[")[0].strip() in text_of(messages[1])
    cleared = chat.predict(api_name="/clear")
    assert cleared[0] == [] and "Ask a question" in cleared[1]
    ask(chat, ASSAD)
    assert fake.calls[-1] == (ASSAD, [])


def test_refused_answer_is_shown_with_closest_passages(page):
    messages, sources = ask(client(page), "Quantum chromodynamics lattice results?")
    assert text_of(messages[-1]).startswith("**The articles don't say.**")
    assert "Closest passages" in sources and marked(sources)


def test_engine_error_is_a_chat_message_and_the_next_question_works(page, fake):
    chat = client(page)
    fake.fail_next = LLMError("the LLM at http://127.0.0.1:9/v1 is unreachable: start it")
    messages, sources = ask(chat, TROOPS)
    assert text_of(messages[-1]) == (
        "**Could not answer:** the LLM at http://127.0.0.1:9/v1 is unreachable: start it")
    assert "No answer" in sources and "<mark>" not in sources
    messages, sources = ask(chat, ASSAD)
    assert len(messages) == 4 and "[1]" in text_of(messages[-1]) and marked(sources)
    assert fake.calls[-1] == (ASSAD, [])  # the failed turn is not history


def test_a_bug_in_the_engine_is_logged_and_the_page_says_so_briefly(page, fake, caplog):
    fake.fail_next = KeyError("chunk-17")
    messages, _ = ask(client(page), TROOPS)
    assert text_of(messages[-1]) == (
        "**Could not answer:** something went wrong inside newsqa (KeyError); "
        "the details are in the server log")
    assert "Traceback" in caplog.text or any(r.exc_info for r in caplog.records)


def test_status_line_shows_what_is_wrong_with_the_index(settings):
    class NoIndex(FakeEngine):
        def status(self) -> dict:
            raise IndexMissingError("no index yet: run `newsqa ingest`")

    with served(NoIndex(BUNDLED), settings) as url:
        status = client(url).predict(api_name="/status")
        assert status == "**Not ready:** no index yet: run `newsqa ingest`"


def test_sessions_answer_at_once_and_keep_separate_histories(page, fake):
    fake.gate = threading.Barrier(2)  # each answer waits until both are in the engine
    ann, bob = client(page), client(page)
    jobs = [ann.submit(message=TROOPS, api_name="/respond"),
            bob.submit(message=ASSAD, api_name="/respond")]
    for job in jobs:
        assert "[1]" in text_of(job.result(timeout=30)[0][-1])
    fake.gate = None
    ask(ann, "Who ambushed them?")
    ask(bob, "Who ran it?")
    histories = {question: [q for q, _ in history] for question, history in fake.calls[2:]}
    assert histories == {"Who ambushed them?": [TROOPS], "Who ran it?": [ASSAD]}


def test_login_is_required_when_configured(fake, settings):
    locked = settings.model_copy(update={"ui_user": "ann", "ui_password": SecretStr("s3cret")})
    with served(fake, locked) as url:
        with pytest.raises(AuthenticationError, match="Please login"):
            client(url)
        messages, _ = ask(client(url, auth=("ann", "s3cret")), TROOPS)
        assert "[1]" in text_of(messages[-1])


def test_shared_engine_that_cannot_open_the_store_leaves_the_page_usable(settings):
    from rag.ask import reset_engine

    down = settings.model_copy(update={"chroma_host": "127.0.0.1", "chroma_port": free_port()})
    reset_engine()
    try:
        with served(None, down) as url:  # no engine injected: the process's shared one
            chat = client(url)
            assert chat.predict(api_name="/status").startswith(
                "**Not ready:** cannot reach the Chroma server at 127.0.0.1:")
            messages, sources = ask(chat, ASSAD)
            assert text_of(messages[-1]).startswith("**Could not answer:** cannot reach")
            assert "chroma run" in text_of(messages[-1]) and "No answer" in sources
            assert chat.predict(api_name="/clear")[0] == []
    finally:
        reset_engine()


# -- served, with the real engine --------------------------------------------------------------

def test_real_engine_answers_with_sources_and_follows_up(bundled_index):
    from rag.ask import Engine

    with served(Engine(bundled_index), bundled_index) as url:
        chat = client(url)
        assert "Backend: **extractive**" in chat.predict(api_name="/status")
        messages, sources = ask(chat, ASSAD)
        assert "December 2024" in text_of(messages[-1]) and "[1]" in text_of(messages[-1])
        assert any("December 2024" in quote for quote in marked(sources))
        assert_marks_are_file_spans(sources, bundled_index.corpus_dir)
        ask(chat, TURKEY)
        messages, sources = ask(chat, "When did he say it?")  # refused without the history
        assert not text_of(messages[-1]).startswith("**The articles")
        assert any("Hakan Fidan" in q and "Thursday" in q for q in marked(sources))


def test_real_llm_failure_is_shown_and_the_next_question_works(bundled_index):
    from rag.ask import Engine

    with FakeOpenAI() as llm:
        llm.script = [Reply(status=500), lambda body: Reply(
            f"Assad's government was overthrown in December 2024 "
            f"[{passage_number(body, 'December 2024')}].")]
        settings = bundled_index.model_copy(update={
            "llm": "openai", "openai_base_url": llm.base_url, "openai_model": "fake-model",
            "openai_api_key": SecretStr("sk-test"), "openai_max_retries": 0})
        with served(Engine(settings), settings) as url:
            chat = client(url)
            assert "Backend: **openai:fake-model**" in chat.predict(api_name="/status")
            messages, sources = ask(chat, ASSAD)
            assert text_of(messages[-1]).startswith("**Could not answer:**")
            assert "No answer" in sources
            messages, sources = ask(chat, ASSAD)
            assert text_of(messages[-1]).startswith(
                "Assad's government was overthrown in December 2024 "
                '<a class="nq-cite" href="#nq-source-1-1" title="Show source 1">[1]</a>.')
            assert any("December 2024" in quote for quote in marked(sources))


# -- `newsqa chat`: build the missing index, then serve -----------------------------------------

def test_newsqa_chat_builds_the_missing_index_then_serves_with_a_login(tmp_path):
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NEWSQA_CORPUS_DIR": str(BUNDLED),
           "NEWSQA_STORE_DIR": str(tmp_path / "store"), "NEWSQA_UI_USER": "ann",
           "NEWSQA_UI_PASSWORD": "s3cret", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "rag.cli", "chat", "--port", str(port)]
    with subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as server:
        try:
            log = wait_for_line(server, "Running on local URL")
            assert "building the index" in log and f"http://127.0.0.1:{port}" in log
            with pytest.raises(AuthenticationError):
                client(f"http://127.0.0.1:{port}/")
            chat = client(f"http://127.0.0.1:{port}/", auth=("ann", "s3cret"))
            messages, sources = ask(chat, ASSAD)
            assert "December 2024" in text_of(messages[-1]) and marked(sources)
        finally:
            server.terminate()


def wait_for_line(process: subprocess.Popen, needle: str, timeout: float = 90) -> str:
    """The process's output up to the first line containing `needle`."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: _read_until(process, needle, lines), daemon=True)
    reader.start()
    reader.join(timeout)
    assert lines and needle in lines[-1], "".join(lines)[-3000:]
    return "".join(lines)


def _read_until(process: subprocess.Popen, needle: str, lines: list[str]) -> None:
    for line in process.stdout:
        lines.append(line)
        if needle in line:
            return


# -- gradio stays out of everything but the page ---------------------------------------------

NO_GRADIO = """
import json, sys
from click.testing import CliRunner
import rag
from rag.cli import main
results = [CliRunner().invoke(main, args) for args in (["stats"], ["ask", sys.argv[1]], ["--help"])]
print(json.dumps({"codes": [r.exit_code for r in results], "outputs": [r.output for r in results],
                  "loaded": sorted(m for m in sys.modules if m.split(".")[0] in
                                   ("gradio", "gradio_client", "ui"))}))
"""


def test_rag_and_the_non_ui_cli_commands_never_import_gradio(bundled_index, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "NEWSQA_CORPUS_DIR": str(bundled_index.corpus_dir),
           "NEWSQA_STORE_DIR": str(bundled_index.store_dir)}
    run = subprocess.run([sys.executable, "-c", NO_GRADIO, ASSAD], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(run.stdout.splitlines()[-1])
    assert report["codes"] == [0, 0, 0], report["outputs"]
    assert "December 2024" in report["outputs"][1]
    assert report["loaded"] == []


def test_sources_of_an_html_article_index_its_extracted_text(tmp_path):
    """Offsets of .html/.json citations point into the reader's extracted text, not the
    raw markup: the page must slice that same text to highlight the quote."""
    from conftest import make_settings

    from rag.ask import Engine
    from ui.app import SourceTexts

    corpus = tmp_path / "html"
    corpus.mkdir()
    (corpus / "dam.html").write_text(
        "<html><head><title>Dam opens on the river</title></head><body><article>"
        "<h1>Dam opens on the river</h1><p>The new dam on the river opened on Tuesday after "
        "six years of construction work by the regional council.</p><p>Officials said the "
        "dam will supply power to forty thousand homes in the valley.</p></article></body>"
        "</html>", encoding="utf-8")
    settings = make_settings(tmp_path, corpus_dir=corpus)
    answer = Engine(settings).ask("How many homes will the dam supply?")
    assert answer.citations
    for citation in answer.citations:
        text = SourceTexts(corpus).text_of(citation.source)
        assert text[citation.start:citation.end] == citation.quote


def test_a_port_in_use_is_an_error_naming_our_settings(fake, settings):
    """#12: a traceback named GRADIO_SERVER_PORT, not --port or NEWSQA_UI_PORT."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=r"--port N` or NEWSQA_UI_PORT"):
            serve(build_app(engine=fake, settings=settings), settings, host="127.0.0.1",
                  port=port, block=False)


def test_guessing_the_login_gets_slower_and_slower(monkeypatch):
    """#11: there was no login throttling."""
    from ui.app import Login

    login = Login("ann", "right")
    waited = []
    monkeypatch.setattr("ui.app.time.sleep", waited.append)
    for _ in range(8):
        assert not login("ann", "guess")
    assert waited[:6] == [0.0] * 6 and waited[6] == 1.0 and waited[7] == 2.0
    assert login("ann", "right")  # the right password still works, after the wait
    assert waited[8] == 4.0


# -- the library tab, served with the real engine ------------------------------------------------

PORT_STORY = ("Port reopens after storm\n\nThe port of Zanzibar reopened on Monday after a "
              "storm had closed it for three days, officials said.\n")


def table_files(table: dict) -> list[str]:
    column = table["headers"].index("File")
    return [row[column] for row in table["data"]]


def test_the_library_adds_and_deletes_articles_through_the_page(tmp_path, corpus):
    """#12: the page lists the indexed articles, takes an upload (ingested by the serving
    process), and deletes one; answers follow each change."""
    from conftest import make_settings
    from gradio_client import handle_file

    from index.ingest import ingest
    from rag.ask import Engine

    settings = make_settings(tmp_path, corpus_dir=corpus, embedder="hash")
    ingest(settings, progress=False)
    upload = tmp_path / "uploads" / "Port news.txt"
    upload.parent.mkdir()
    upload.write_text(PORT_STORY, encoding="utf-8")
    with served(Engine(settings), settings) as url:
        page = client(url)
        summary, table, _, _, problems, status, _ = page.predict(
            [handle_file(str(upload))], api_name="/library_upload")
        assert "Port-news.txt" in table_files(table) and "**7 articles** in 6 files" in summary
        assert "**Port-news.txt**: 1 chunk added" in problems and "7 articles" in status
        assert (corpus / "Port-news.txt").read_text(encoding="utf-8") == PORT_STORY
        messages, sources = ask(page, "When did the port of Zanzibar reopen?")
        assert "Monday" in text_of(messages[-1]) and "Port-news.txt" in sources

        summary, table, _, _, problems, status = page.predict("Port-news.txt",
                                                             api_name="/library_delete")
        assert "Port-news.txt" not in table_files(table) and "6 articles" in status
        messages, sources = ask(page, "When did the port of Zanzibar reopen?")
        newest = sources.split('<div class="nq-turn"')[1]  # the panel keeps earlier turns
        assert "Port-news.txt" not in newest and "Port-news.txt" not in text_of(messages[-1])
        # A path the list does not hold is refused before it reaches the library, which
        # refuses anything outside the corpus folder too (tests/test_library.py).
        with pytest.raises(AppError, match="not in the list of choices"):
            page.predict("../../etc/passwd", api_name="/library_delete")
        assert (corpus / "000_d68abaf6e094f2ff.txt").is_file()


def test_filters_in_the_page_reach_retrieval_and_say_what_they_left_out(bundled_index):
    """#12: the page had no filters."""
    from rag.ask import Engine

    with served(Engine(bundled_index), bundled_index) as url:
        page = client(url)
        messages, sources, _ = page.predict(
            message="US airstrikes on militias", sources_only=[], since="", until="2021-12-31",
            api_name="/respond")
        assert "4 articles without a date were left out" in text_of(messages[-1])
        assert "2021-06-29" in sources and "2026-01-10" not in sources.split("nq-turn")[1]
        messages, _, _ = page.predict(
            message="What did Syria join during al-Sharaa's visit to Washington?",
            sources_only=["003_e7575791f94f3015.txt"],
            since="", until="", api_name="/respond")
        assert "003_e7575791f94f3015.txt" in text_of(messages[-1])
        assert "000_d68abaf6e094f2ff.txt" not in text_of(messages[-1])
        messages, _, _ = page.predict(message="Who died?", sources_only=[], since="June 2021",
                                      until="", api_name="/respond")
        assert "'June 2021' is not a date: write it as YYYY-MM-DD" in text_of(messages[-1])


def test_a_follow_up_shows_the_query_it_was_searched_as(bundled_index):
    from rag.ask import Engine

    with served(Engine(bundled_index), bundled_index) as url:
        page = client(url)
        ask(page, TURKEY)
        messages, sources = ask(page, "When did he say it?")
        newest = sources.split('<div class="nq-turn"')[1]
        assert re.search(r'class="nq-searched">searched: “[^”]*(Turkey|Fidan)', newest)
        assert "nq-searched" in text_of(messages[-1])  # also under the answer, for phones


def test_the_library_is_read_only_on_a_page_served_beyond_loopback_without_a_login(
        fake, settings, tmp_path):
    from gradio_client import handle_file

    upload = tmp_path / "story.txt"
    upload.write_text(PORT_STORY, encoding="utf-8")
    shared = settings.model_copy(update={"ui_host": "0.0.0.0"})
    with served(fake, shared) as url:  # (served on 127.0.0.1; built as if shared)
        _, _, _, _, problems, _, _ = client(url).predict([handle_file(str(upload))],
                                                         api_name="/library_upload")
    assert "does not change the library" in problems and "NEWSQA_UI_PASSWORD" in problems
    assert not (settings.corpus_dir / "story.txt").exists()
