"""Helpers for the UI tests: a small deterministic engine over the real article files
(same methods as rag.ask.Engine, real Answer objects, citations at real offsets), and
serving a built page on a free loopback port."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag.types import Answer, Citation, Timings

SENTENCE = re.compile(r"[^.!?\n]+[.!?]")
WORD = re.compile(r"[a-z0-9]{4,}")


class FakeEngine:
    """Answers with the one corpus sentence sharing most words with the question (and,
    on follow-ups, with the previous question); refuses under two shared words.

    `fail_next` makes the next question raise that error; `calls` records every
    (question, history) it was asked; `gate` (a Barrier) holds each answer until
    that many are being answered at once.
    """

    def __init__(self, corpus_dir: Path, delay: float = 0.01):
        self.corpus_dir = Path(corpus_dir)
        self.delay = delay
        self.sentences = list(self._sentences())
        self.calls: list[tuple[str, list[tuple[str, str]]]] = []
        self.fail_next: Exception | None = None
        self.gate: threading.Barrier | None = None
        self._lock = threading.Lock()

    def _sentences(self) -> Iterator[tuple[str, int, int, str]]:
        for path in sorted(self.corpus_dir.glob("*.txt")):
            text = path.read_text(encoding="utf-8")
            for match in SENTENCE.finditer(text):
                start = match.start() + len(match.group()) - len(match.group().lstrip())
                yield path.name, start, match.end(), text[start : match.end()]

    def status(self) -> dict:
        files = {source for source, *_ in self.sentences}
        return {"backend": "fake", "articles": len(files), "chunks": len(self.sentences),
                "newest": "2026-01-10"}

    def articles(self) -> list[dict]:
        files = sorted({source for source, *_ in self.sentences})
        return [{"title": None, "published": None, "date": None, "outlet": None,
                 "byline": None, "source": f, "chunks": sum(s[0] == f for s in self.sentences)}
                for f in files]

    def ask(self, question: str, history=None, **options) -> Answer:
        *_, answer = self.ask_stream(question, history, **options)
        return answer

    def ask_stream(self, question: str, history=None, **options) -> Iterator[str | Answer]:
        history = list(history or [])
        with self._lock:
            self.calls.append((question, history))
            error, self.fail_next = self.fail_next, None
        if self.gate is not None:
            self.gate.wait(timeout=10)
        if error is not None:
            raise error
        query = " ".join([q for q, _ in history[-1:]] + [question])
        answer = self._answer(query)
        for word in re.findall(r"\S+\s*", answer.text):
            time.sleep(self.delay)
            yield word
        yield answer

    def _answer(self, query: str) -> Answer:
        wanted = set(WORD.findall(query.lower()))
        overlap, (source, start, end, quote) = max(
            (len(wanted & set(WORD.findall(s[3].lower()))), s) for s in self.sentences
        )
        citation = Citation(marker=1, source=source, article_id=source, title=f"Article {source}",
                            published="2025-12-14", outlet="Fake Wire", quote=quote,
                            start=start, end=end, score=overlap / max(len(wanted), 1))
        timings = Timings(retrieval_ms=3.0, generation_ms=1.0)
        if overlap < 2:
            return Answer(text="The articles don't say.", citations=[citation], refused=True,
                          backend="fake", timings=timings, query=query)
        return Answer(text=f"{quote} [1]", citations=[citation], backend="fake",
                      timings=timings, query=query)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served(engine, settings) -> Iterator[str]:
    """The page built around `engine`, served on a free loopback port; yields its URL."""
    from ui.app import build_app, serve

    app = build_app(engine=engine, settings=settings)
    url = serve(app, settings, host="127.0.0.1", port=free_port(), block=False)
    try:
        yield url
    finally:
        app.close()
