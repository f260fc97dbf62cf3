"""The Gradio chat page: `build_app()` builds it without serving (tests drive it),
`launch()` builds the index when missing and serves it on 127.0.0.1.
"""

from __future__ import annotations

import copy
import hmac
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import gradio as gr  # after rag.config, which ui/__init__.py imports: no network habits

from rag.config import Settings, get_settings, is_loopback
from rag.errors import ConfigError, FilterError, NewsqaError
from rag.types import Answer, Filters
from ui import headers, render
from ui.conversations import Conversation, Conversations, ConversationsPanel, browser_state, message
from ui.library import library_tab
from ui.style import CSS, HEAD

log = logging.getLogger(__name__)

# Answers computed at once across all sessions. Gradio's default is 1 per event, which
# would queue every visitor behind one another; the engine itself serialises only
# what must be (one retrieval), and LLM calls wait on the network, not the CPU.
MAX_CONCURRENT_ANSWERS = 8

# Example questions written from the bundled articles, each with the file that answers it:
# shown only when that file is in the corpus being served.
EXAMPLES = [
    ("How many American troops died in the Palmyra attack?", "000_d68abaf6e094f2ff.txt"),
    ("When was Assad's government overthrown?", "000_d68abaf6e094f2ff.txt"),
    ("Who is the commander of CENTCOM?", "002_7a285edda9df7335.txt"),
    ("What did Syria join during al-Sharaa's visit to Washington?", "003_e7575791f94f3015.txt"),
    ("Who did al-Sharaa send condolences to?", "001_d3167d0071582912.txt"),
]


class AnswerEngine(Protocol):
    """What the page needs from rag.ask.Engine (tests inject fakes of the same shape)."""

    def ask_stream(self, question: str, history: list[tuple[str, str]] | None = None,
                   **options: Any) -> Iterator[str | Answer]: ...

    def status(self) -> dict: ...

    def articles(self) -> list[dict]: ...


def build_app(engine: AnswerEngine | None = None, settings: Settings | None = None) -> gr.Blocks:
    """The chat page, not yet served. Without `engine`, the process's shared
    rag.ask engine is created on first use, so building never touches the index."""
    settings = settings or get_settings()
    engine_of = _engine_provider(engine, settings)
    texts = SourceTexts(settings.corpus_dir)
    conversations = Conversations(settings, texts.for_answer)
    with gr.Blocks(title="newsqa: ask the news articles") as app:
        conversation = gr.State(Conversation())
        browser = browser_state(settings)
        status = _header()
        with gr.Tabs(elem_id="nq-tabs"):
            with gr.Tab("Chat", id="chat"):
                panel = ConversationsPanel(conversations)
                filter_inputs: list = []

                def below_question() -> None:
                    filter_inputs.extend(_filters_panel())
                    panel.build()

                chat, question, ask_button, clear_button, sources = _layout(settings,
                                                                             below_question)
            with gr.Tab("Library", id="library"):
                library_tab(settings, engine_of, status, lambda: status_line(engine_of), app,
                            file_filter=filter_inputs[0])

        def respond(message: str, state: Conversation, sources_only=None, since="",
                    until=""):
            try:
                filters = page_filters(sources_only, since, until)
            except NewsqaError as error:
                yield _refused_turn(state, message, error)
                return
            yield from answer_turn(engine_of, texts, message, state, filters)

        def clear(state: Conversation):
            return [], Conversation(), render.empty_sources_html(), ""

        def show_status() -> str:
            return status_line(engine_of)

        events = {"fn": respond, "inputs": [question, conversation, *filter_inputs],
                  "outputs": [chat, conversation, sources, question],
                  "concurrency_limit": MAX_CONCURRENT_ANSWERS}
        answered = [question.submit(api_name="respond", **events),
                    ask_button.click(api_visibility="private", **events)]
        cleared = [clear_button.click(clear, inputs=[conversation],
                                      outputs=[chat, conversation, sources, question],
                                      api_name="clear"),
                   # The Chatbot's own trash icon must forget the history too.
                   chat.clear(clear, inputs=[conversation],
                              outputs=[chat, conversation, sources, question],
                              api_visibility="private")]
        panel.wire(app, conversation, browser, chat, sources, answered, cleared)
        app.load(show_status, outputs=[status], api_name="status")
    return app


def _engine_provider(engine: AnswerEngine | None, settings: Settings):
    if engine is not None:
        return lambda: engine

    def shared_engine() -> AnswerEngine:
        from rag.ask import get_engine  # loads chromadb & the model: only when first asked

        return get_engine(settings)

    return shared_engine


def _header() -> gr.Markdown:
    with gr.Row(elem_id="nq-header"):
        gr.Markdown("## newsqa\nAnswers come only from the articles, and every claim "
                    "points to the passage it rests on.", elem_id="nq-title")
        return gr.Markdown("Loading status…", elem_id="nq-status")


def _layout(settings: Settings, below_question: Callable[[], None]):
    with gr.Row(equal_height=False, elem_id="nq-main"):
        with gr.Column(scale=3, min_width=420):
            chat = gr.Chatbot(
                elem_id="nq-chat", height=540, show_label=False, feedback_options=None,
                latex_delimiters=[],  # "$5 and $6" in news text is money, not maths
                buttons=["copy"], placeholder="Ask a question about the news articles.",
            )
            with gr.Row(elem_id="nq-ask"):
                question = gr.Textbox(
                    label="Question", elem_id="nq-question", show_label=False, scale=6,
                    autofocus=True, container=False,  # the label stays for screen readers
                    placeholder="Ask about the articles, e.g. who said what, when, how many…",
                )
                ask_button = gr.Button("Ask", variant="primary", scale=1, min_width=80,
                                       elem_id="nq-ask-button")
                clear_button = gr.Button("Clear", variant="secondary", scale=1, min_width=80,
                                         elem_id="nq-clear")
            below_question()
            examples = examples_for(settings.corpus_dir)
            if examples:
                gr.Examples([[q] for q in examples], inputs=[question], label="Examples")
        with gr.Column(scale=2, min_width=360):
            sources = gr.HTML(render.empty_sources_html(), elem_id="nq-sources")
    return chat, question, ask_button, clear_button, sources


def examples_for(corpus_dir: Path) -> list[str]:
    """The example questions whose answering article is in the served corpus."""
    return [question for question, source in EXAMPLES if (Path(corpus_dir) / source).is_file()]


def _filters_panel() -> list:
    """The page's filters: files, and a publication date range."""
    with gr.Accordion("Filters", open=False, elem_id="nq-filters"):
        # Names are checked by the engine, which says which it does not hold.
        files = gr.Dropdown(label="Only these files", choices=[], value=[], multiselect=True,
                            allow_custom_value=True, elem_id="nq-filter-files")
        with gr.Row():
            since = gr.Textbox("", label="Published on or after (YYYY-MM-DD)",
                               elem_id="nq-filter-since")
            until = gr.Textbox("", label="Published on or before (YYYY-MM-DD)",
                               elem_id="nq-filter-until")
        gr.Markdown("A date range leaves out articles without a date; the answer says how "
                    "many.", elem_classes=["nq-note"])
    return [files, since, until]


def page_filters(files: list[str] | None, since: str | None, until: str | None
                 ) -> Filters | None:
    """The filters as the engine takes them; a date it cannot read is a FilterError."""
    days = {}
    for name, value in (("since", since), ("until", until)):
        value = (value or "").strip()
        if not value:
            continue
        try:
            days[name] = date.fromisoformat(value)
        except ValueError:
            raise FilterError(f"{value!r} is not a date: write it as YYYY-MM-DD, e.g. "
                              "2026-01-31") from None
    if not files and not days:
        return None
    return Filters(sources=list(files) or None, **days)


def _refused_turn(state: Conversation, asked: str, error: Exception):
    """A question not asked (its filters cannot be read): said in the chat, not kept."""
    convo = copy.deepcopy(state)
    convo.messages += [message("user", render.user_markdown(asked or "")),
                       message("assistant", "…")]
    return _show_error(convo, asked, error)


def answer_turn(engine_of, texts: SourceTexts, asked: str, state: Conversation,
                filters: Filters | None = None):
    """One question: stream the answer into the chat, then show its sources.

    Yields (chat messages, conversation, sources html, question box) updates. A
    NewsqaError becomes a readable message in the chat; the conversation stays usable.
    """
    question = (asked or "").strip()
    if not question:
        yield state.messages, state, gr.skip(), ""
        return
    convo = copy.deepcopy(state)  # the session's state is only replaced, never mutated
    convo.messages += [message("user", render.user_markdown(question)),
                       message("assistant", "…")]
    pending = render.pending_section(question)
    yield convo.messages, convo, render.conversation_sources_html(convo.sections, pending), ""
    try:
        answer = yield from _stream_answer(engine_of(), question, convo, filters)
    except Exception as error:  # noqa: BLE001 (each kind is logged in _show_error)
        yield _show_error(convo, question, error)
        return
    turn = len(convo.sections) + 1  # markers of every answer keep their own entries
    convo.messages[-1] = message("assistant", render.answer_markdown(answer, turn, question))
    convo.turns.append((question, answer))  # stored by the Conversations panel's next step
    convo.sections.append(render.sources_section(answer, texts.for_answer(answer), question,
                                                 turn))
    yield convo.messages, convo, render.conversation_sources_html(convo.sections), gr.skip()


def _stream_answer(engine: AnswerEngine, question: str, convo: Conversation,
                   filters: Filters | None = None):
    """Shows the text as it arrives; returns the final Answer."""
    streamed = ""
    options = {"filters": filters} if filters is not None else {}
    for piece in engine.ask_stream(question, history=convo.history, **options):
        if isinstance(piece, Answer):
            return piece
        streamed += piece
        convo.messages[-1] = message("assistant", render.streaming_markdown(streamed))
        yield convo.messages, convo, gr.skip(), gr.skip()
    raise RuntimeError("the engine's stream ended without an Answer")


def _show_error(convo: Conversation, question: str, error: Exception):
    """The failed turn as a chat message (not kept in the history). Our own errors say
    what to do; anything else is a bug: its traceback goes to the log, not the page."""
    if isinstance(error, NewsqaError):
        log.info("not answered: %s", error)
    else:
        log.exception("answering %r failed", question)
        error = RuntimeError(f"something went wrong inside newsqa ({type(error).__name__}); "
                             "the details are in the server log")
    convo.messages[-1] = message("assistant", render.error_markdown(error))
    panel = render.conversation_sources_html(convo.sections, render.failed_section(error))
    return convo.messages, convo, panel, gr.skip()


def status_line(engine_of) -> str:
    """Backend and corpus size, or what is wrong with the index."""
    try:
        return render.status_markdown(engine_of().status())
    except NewsqaError as error:
        return render.status_error_markdown(error)


class SourceTexts:
    """The text of corpus files that citation offsets index into, cached per file
    version; only files inside the corpus dir are read."""

    def __init__(self, corpus_dir: Path):
        self.corpus_dir = Path(corpus_dir).resolve()

    def for_answer(self, answer: Answer) -> dict[str, str]:
        found = {c.source: self.text_of(c.source) for c in answer.citations}
        return {source: text for source, text in found.items() if text is not None}

    def text_of(self, source: str) -> str | None:
        path = (self.corpus_dir / source).resolve()
        if not path.is_relative_to(self.corpus_dir) or not path.is_file():
            return None
        stat = path.stat()
        return _source_text(path, self.corpus_dir, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _source_text(path: Path, corpus_dir: Path, mtime_ns: int, size: int) -> str | None:
    # The reader's own text, as ingest saw it: the decoded file for .txt/.md, the
    # extracted article text for .html/.json/.jsonl. Offsets index into exactly this.
    from index.reader import read_file

    return read_file(path, corpus_dir).text or None


def serve(app: gr.Blocks, settings: Settings, *, host: str | None = None,
          port: int | None = None, block: bool = True) -> str:
    """Serve a built page; returns its local URL (after the server stops when `block`)."""
    host = host or settings.ui_host
    auth = login_of(settings)
    if not auth and not is_loopback(host):
        log.warning("serving on %s without a login: anyone who can reach it can ask (the "
                    "Library stays read-only); set NEWSQA_UI_USER and NEWSQA_UI_PASSWORD for "
                    "one", host)
    port = port or settings.ui_port
    try:
        _, url, _ = app.launch(
            server_name=host, server_port=port, share=False, auth=auth,
            prevent_thread_lock=not block, quiet=not block, run_history=False,
            footer_links=["api"], theme=theme(), css=CSS, head=HEAD,
            app_kwargs={"middleware": headers.middleware()},
        )
    except OSError as error:  # gradio's message names its own variable, not ours
        raise ConfigError(f"Cannot serve on {host}:{port} ({error.strerror or 'port in use'}): "
                          "another program holds the port; choose another with "
                          "`newsqa chat --port N` or NEWSQA_UI_PORT.") from error
    return url


def login_of(settings: Settings) -> Login | None:
    """Gradio auth when both NEWSQA_UI_USER and NEWSQA_UI_PASSWORD are set."""
    user, password = settings.ui_user, settings.ui_password
    if not user and not password:
        return None
    if not (user and password):
        raise ConfigError("set both NEWSQA_UI_USER and NEWSQA_UI_PASSWORD to turn on the login, "
                          "or neither")
    return Login(user, password.get_secret_value())


class Login:
    """Gradio's auth callable: a constant-time check that slows down guessing. After
    FREE_FAILURES failed logins within FAILURE_WINDOW seconds, the next attempt waits 1 s
    before it is answered, and each one after twice as long (up to MAX_DELAY s)."""

    FREE_FAILURES = 5
    FAILURE_WINDOW = 300.0
    MAX_DELAY = 30.0

    def __init__(self, user: str, password: str) -> None:
        self._user, self._password = user.encode(), password.encode()
        self._failures: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, user: str, password: str) -> bool:
        time.sleep(self.delay())
        right = hmac.compare_digest(user.encode(), self._user) & hmac.compare_digest(
            password.encode(), self._password)
        if not right:
            with self._lock:
                self._failures.append(time.monotonic())
        return bool(right)

    def delay(self) -> float:
        """Seconds the next attempt waits."""
        with self._lock:
            since = time.monotonic() - self.FAILURE_WINDOW
            self._failures = [t for t in self._failures if t > since]
            extra = len(self._failures) - self.FREE_FAILURES
        return 0.0 if extra <= 0 else min(self.MAX_DELAY, 2.0 ** (extra - 1))


def theme() -> gr.themes.Base:
    # The system's own fonts: the default theme's web font is never fetched (offline, and
    # the page's CSP forbids it), and its stand-ins mixed glyphs of two fonts.
    # Secondary text at 7:1 in both modes: the theme's own grey was 2.56:1.
    return gr.themes.Default(primary_hue="indigo", neutral_hue="slate",
                             font=["ui-sans-serif", "system-ui", "sans-serif"],
                             font_mono=["ui-monospace", "SFMono-Regular", "monospace"]).set(
        body_text_color_subdued="#4b5563", body_text_color_subdued_dark="#cbd5e1")


def launch(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Build the index if there is none (progress in the terminal), then serve the page."""
    from index.ingest import ensure_index

    if host:  # the page's behaviour depends on where it is served (ui.library)
        settings = settings.model_copy(update={"ui_host": host})
    login_of(settings)  # a half-configured login fails now, not after building the index
    ensure_index(settings)
    app = build_app(settings=settings)
    _warm_up(settings)
    serve(app, settings, host=host, port=port)


def _warm_up(settings: Settings) -> None:
    # Open the store and load the model before the first visitor asks; a problem here
    # is logged and then shown on the page, which stays up.
    from rag.ask import get_engine

    try:
        status = render.status_markdown(get_engine(settings).status())
        log.info("ready: %s", status.replace("**", ""))
    except NewsqaError as error:
        log.warning("%s", error)
