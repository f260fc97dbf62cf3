"""ask(): question in, Answer with verified citations out. One Engine per process.

The Engine opens the store once (building the index first when there is none), keeps the
BM25 side and the sentence-vector cache warm, and answers with the configured backend:
extractive (offline default) or any OpenAI-compatible LLM.
"""

from __future__ import annotations

import difflib
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from index.embedder import make_embedder
from index.store import lexical_root, open_store
from rag.config import Settings, get_settings
from rag.errors import FilterError, IndexMissingError, QuestionError
from rag.extractive import ExtractiveAnswerer, asked_part
from rag.extractive.question import date_range, is_broad
from rag.lexical import SavedLexical
from rag.retrieve import Hit, HybridRetriever, Retrieval
from rag.rewrite import llm_rewrite, needs_context, rule_rewrite
from rag.types import Answer, Filters, Timings

log = logging.getLogger(__name__)

History = list[tuple[str, str]] | None
BROAD_TOP_K = 15  # passages a digest draws on
UNGROUNDED_NOTE = ("The language model's reply cited no passage that bears it out, so it is "
                   "not shown: this is the extractive answer, quoted from the articles.")
FiltersArg = Filters | dict | None  # a dict is read as Filters, e.g. {"since": "2025-01-01"}


class Engine:
    """Everything a question needs, opened once: embedder, store, retriever, answerer."""

    def __init__(self, settings: Settings, *, embedder=None, llm=None,
                 exact: bool = False) -> None:
        self.settings = settings
        self.embedder = embedder or make_embedder(settings)
        self.retriever = HybridRetriever(self._open_or_build(), self.embedder,
                                         reopen=lambda: open_store(settings, self.embedder),
                                         saved=SavedLexical(lexical_root(settings)),
                                         exact=exact)
        self.extractive = ExtractiveAnswerer(sentence_embedder(settings, self.embedder),
                                             self._idf)
        self.generator = None
        if settings.llm in ("openai", "local"):
            from rag.generate import Generator

            self.generator = Generator(_served(settings) if settings.llm == "local" else settings,
                                       llm=llm)

    def _open_or_build(self):
        try:
            return open_store(self.settings, self.embedder)
        except IndexMissingError:
            from index.ingest import ensure_index

            log.info("no index at %s yet: building the index from %s first",
                     self.settings.store_dir, self.settings.corpus_dir)
            ensure_index(self.settings)
            return open_store(self.settings, self.embedder)

    @property
    def store(self):
        """The store as the retriever holds it now (it reopens it after outside changes)."""
        return self.retriever.store

    def _idf(self, term: str) -> float:
        return self.retriever.lexical.idf(term)

    @property
    def backend(self) -> str:
        return self.settings.answer_backend

    def ask(self, question: str, history: History = None, *, top_k: int | None = None,
            filters: FiltersArg = None) -> Answer:
        """The Answer to `question` (with `history`: earlier (user, assistant) turns)."""
        answer = None
        for piece in self.ask_stream(question, history, top_k=top_k, filters=filters):
            if isinstance(piece, Answer):
                answer = piece
        return answer

    def ask_stream(self, question: str, history: History = None, *, top_k: int | None = None,
                   filters: FiltersArg = None) -> Iterator[str | Answer]:
        """Yields text pieces as they are generated, then the final validated Answer."""
        question = readable_question(question)
        self.retriever.refresh()  # the filters are checked against the current index
        began = time.perf_counter()
        query = self.standalone(asked_part(question), history or [])
        started = time.perf_counter()  # an LLM's rewrite is its own time, not retrieval's
        top_k, filters, note = self.scope(query, top_k or self.settings.top_k, filters)
        retrieval = self.retrieve(query, top_k, filters)
        retrieved = time.perf_counter()
        if self.generator is None:
            answer = self.extractive.answer(question, retrieval)
            yield from pieces(answer.text)
        else:
            answer = yield from self._generate(question, retrieval)
        if note:
            answer.notes.append(note)
        answer.timings = Timings(rewrite_ms=_ms(began, started),
                                 retrieval_ms=_ms(started, retrieved),
                                 generation_ms=_ms(retrieved, time.perf_counter()))
        answer.query = query
        yield answer

    def _generate(self, question: str, retrieval: Retrieval):
        """The LLM's reply, validated. A reply that may not be shown as an answer (it cites
        nothing, or nothing it says is in its passages) gives way to the extractive answer,
        which says so."""
        from rag.validate import validate

        if not retrieval.hits:
            return self.extractive.answer(question, retrieval).model_copy(
                update={"backend": self.backend})
        hits = self.llm_passages(question, retrieval)
        pieces, used = [], []
        for piece in self.generator.stream(question, hits, used):
            pieces.append(piece)
            yield piece
        answer, shown = validate("".join(pieces), hits[:used[0]], self.backend)
        if shown:
            return answer
        log.info("the LLM's reply cited no passage that bears it out; answering extractively")
        fallback = self.extractive.answer(question, retrieval)
        fallback.notes.append(UNGROUNDED_NOTE)
        return fallback

    def llm_passages(self, question: str, retrieval: Retrieval) -> list[Hit]:
        """What the LLM reads: the retrieved passages, or (evidence first) only the few
        sentences the extractive stage ranks highest, each as a passage of its own."""
        count = self.settings.evidence_sentences
        if not count:
            return retrieval.hits
        best = self.extractive.best_sentences(question, retrieval, count)
        return [Hit(replace(c.chunk, id=f"{c.chunk.id}@{c.start}", text=c.text, start=c.start,
                            end=c.end), c.probability) for c in best] or retrieval.hits

    def scope(self, question: str, top_k: int, filters: FiltersArg
              ) -> tuple[int, Filters | None, str]:
        """How widely to search: a broad request ("What happened in June 2021?") reaches
        more passages, and the period it names becomes a date filter (a note says that
        undated articles were left out)."""
        filters = self.known_filters(filters)
        period = date_range(question) if is_broad(question) else None
        if is_broad(question):
            top_k = max(top_k, BROAD_TOP_K)
        if period is not None:
            since, until = period.since, period.until
            if filters is not None:  # the narrower of the two periods
                since = max(since, filters.since or since)
                until = min(until, filters.until or until)
            update = {"since": since, "until": until}
            filters = filters.model_copy(update=update) if filters else Filters(**update)
        if filters is None or not (filters.since or filters.until):
            return top_k, filters, ""
        lexical = self.retriever.lexical
        undated = sum(n for source, n in lexical.undated_articles.items()
                      if not filters.sources or source in filters.sources)
        left_out = (f"{undated} article{'s' * (undated != 1)} without a date "
                    f"{'was' if undated == 1 else 'were'} left out") if undated else ""
        if period is not None:
            return top_k, filters, (f"Only articles published in {period.phrase}"
                                    + (f"; {left_out}." if left_out else "."))
        return top_k, filters, (f"The date filter applies to dated articles: {left_out}."
                                if left_out else "")

    def known_filters(self, filters: FiltersArg) -> Filters | None:
        """`filters` with each source as the index names it (a path to a file in the corpus
        folder is taken as that file); a source it does not hold is a FilterError, not a
        silent "the articles don't say"."""
        if isinstance(filters, dict):
            filters = Filters.model_validate(filters)
        if filters is None or not filters.sources:
            return filters
        known = self.retriever.lexical.sources
        named = [source_of_path(s, self.settings.corpus_dir, known) for s in filters.sources]
        unknown = [s for s in named if s not in known]
        if unknown:
            close = difflib.get_close_matches(unknown[0], sorted(known), n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise FilterError(f"No indexed article file is named {unknown[0]!r}.{hint} A "
                              "source is a file's path inside the corpus folder "
                              f"({self.settings.corpus_dir}); the page's Library tab lists "
                              "them.")
        return filters.model_copy(update={"sources": named})

    def standalone(self, question: str, history: list[tuple[str, str]]) -> str:
        """The question rewritten to stand alone when it leans on the conversation."""
        if not history or not needs_context(question):
            return question
        if self.generator is not None:
            return llm_rewrite(question, history, self.generator.complete)
        return rule_rewrite(question, history)

    def retrieve(self, query: str, top_k: int | None = None,
                 filters: FiltersArg = None) -> Retrieval:
        if isinstance(filters, dict):
            filters = Filters.model_validate(filters)
        self.retriever.refresh()
        return self.retriever.retrieve(query, top_k or self.settings.top_k, filters)

    def status(self) -> dict:
        """What the UI's status line shows: backend, articles, chunks, newest date."""
        self.retriever.refresh(force=True)  # asked right after a change: show it
        lexical = self.retriever.lexical
        dates = [a["published"] for a in lexical.articles if a["published"]]
        return {
            "backend": self.backend,
            "articles": len(lexical.articles),
            "chunks": lexical.size,
            "newest": max(dates) if dates else None,
        }

    def articles(self) -> list[dict]:
        """The indexed articles, newest first (undated last): what the library lists."""
        self.retriever.refresh(force=True)
        return [dict(row) for row in self.retriever.lexical.articles]


SENTENCE_EMBEDDER = "minilm"  # the embedder whose similarities the answerer was trained on


def sentence_embedder(settings: Settings, embedder):
    """What the extractive answerer embeds sentences with: its models were trained on
    MiniLM's similarities (`evals/train_answerer.py`, default settings), so an index
    embedded by another model still gets MiniLM for them. The hash embedder stands in for
    every model in tests."""
    if settings.embedder in (SENTENCE_EMBEDDER, "hash"):
        return embedder
    return make_embedder(settings.model_copy(update={"embedder": SENTENCE_EMBEDDER}))


def pieces(text: str, words: int = 6) -> Iterator[str]:
    """The offline answer in the pieces an LLM's would stream in, so that every backend
    streams alike (it is computed whole, in about 0.1 s, so the pieces come at once).

    >>> list(pieces("One two three four five six seven.", words=3))
    ['One two three ', 'four five six ', 'seven.']
    """
    found = re.findall(r"\S+\s*", text)
    for start in range(0, len(found), words):
        yield "".join(found[start:start + words])


def source_of_path(source: str, corpus_dir: Path, known: frozenset[str]) -> str:
    """A source as given, or, when it is not a known name but a path to a file, the name
    the ingest gave that file."""
    if source in known:
        return source
    from index.reader import source_name  # (the reader's imports stay out of start-up)

    path = Path(source).expanduser()
    return source_name(path, corpus_dir) if path.is_file() else source


MAX_QUESTION_CHARS = 2000  # a 1M-character question cost 14 s of CPU and 125 MB


def readable_question(question: str) -> str:
    """The question as text newsqa can read: at most MAX_QUESTION_CHARS characters (a
    QuestionError says so otherwise), and bytes no encoder accepts (a lone surrogate from
    a broken paste) replaced."""
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(f"The question is {len(question):,} characters long; newsqa reads "
                            f"questions of up to {MAX_QUESTION_CHARS:,}. Ask it in fewer words.")
    return question.encode("utf-8", "replace").decode("utf-8")


def _served(settings: Settings) -> Settings:
    """NEWSQA_LLM=local: llama.cpp's server started (once per process) on the configured
    or packaged model, and the settings that point the OpenAI client at it."""
    from rag.local_llm import local_server, model_file

    model = settings.local_model or model_file(settings.local_model_name, settings.cache_dir)
    alias = settings.answer_backend.partition(":")[2]
    server = local_server(model, alias, settings.local_context, settings.local_threads)
    return settings.model_copy(update={
        "openai_base_url": server.base_url, "openai_model": alias, "openai_api_key": None,
        "openai_context_window": settings.local_context})


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000.0, 2)


_engine: Engine | None = None
_engine_lock = threading.Lock()


def get_engine(settings: Settings | None = None) -> Engine:
    """The process's Engine, created on first use; new settings replace it."""
    global _engine
    with _engine_lock:
        if _engine is None or (settings is not None and settings != _engine.settings):
            _engine = Engine(settings or get_settings())
        return _engine


def reset_engine() -> None:
    """Forget the process's Engine (tests switch settings between cases)."""
    global _engine
    with _engine_lock:
        _engine = None


def ask(question: str, history: History = None, *, top_k: int | None = None,
        filters: FiltersArg = None) -> Answer:
    """Answer `question` from the articles; every citation's quote is an exact file span."""
    return get_engine().ask(question, history, top_k=top_k, filters=filters)


def ask_stream(question: str, history: History = None, *, top_k: int | None = None,
               filters: FiltersArg = None) -> Iterator[str | Answer]:
    """Like ask(), streamed: text pieces, then the final Answer."""
    yield from get_engine().ask_stream(question, history, top_k=top_k, filters=filters)
