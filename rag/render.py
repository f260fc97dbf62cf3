"""Plain-text rendering of an Answer for the terminal: the answer, then numbered sources."""

from __future__ import annotations

import textwrap

from rag.types import Answer, Citation

WIDTH = 88


def format_answer_plain(answer: Answer) -> str:
    """The answer text, a caution for unsupported sentences, then one block per source."""
    lines = [textwrap.fill(line, WIDTH, subsequent_indent="  " if line.startswith("- ") else "")
             for line in answer.text.splitlines()]  # a digest is one line per article
    lines += [textwrap.fill(f"({note})", WIDTH) for note in answer.notes]
    if answer.unsupported:
        lines += ["", "Not found in the cited passages (check before relying on it):"]
        lines += [f"  - {sentence}" for sentence in answer.unsupported]
    if answer.citations:
        lines += ["", "Sources:"]
        lines += [format_citation(c) for c in answer.citations]
    return "\n".join(lines)


def format_citation(citation: Citation) -> str:
    """[n] Title (date) -- file:start-end, then the quote, indented."""
    head = f"[{citation.marker}] {citation.title or 'untitled'}"
    head += f" ({citation.date_label})"
    head += f" -- {citation.source}:{citation.start}-{citation.end}"
    quote = textwrap.fill(f"\u201c{citation.quote}\u201d", WIDTH, initial_indent="    ",
                          subsequent_indent="    ")
    return f"{head}\n{quote}"
