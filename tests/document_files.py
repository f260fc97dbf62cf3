"""Real PDF and DOCX files for the reader's tests: PDFs drawn by matplotlib (its text is a
real text layer; shapes alone make a page without one, like a scan), DOCX by python-docx."""

from __future__ import annotations

import textwrap
from pathlib import Path

WRAP = 95  # characters per PDF line: paragraphs are wrapped as a typesetter would


def write_pdf(path: Path, pages: list[list[str]], title: str | None = None) -> Path:
    """A PDF whose pages hold these paragraphs, wrapped into lines, under a large title."""
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    with PdfPages(path) as pdf:
        for number, paragraphs in enumerate(pages):
            figure, y = Figure(figsize=(8.27, 11.69)), 0.95  # A4
            if title and number == 0:
                figure.text(0.08, y, title, fontsize=20)
                y -= 0.04
            for paragraph in paragraphs:
                for line in textwrap.wrap(paragraph, WRAP):
                    figure.text(0.08, y, line, fontsize=9)
                    y -= 0.017
                y -= 0.012
            pdf.savefig(figure)
    return path


def write_scanned_pdf(path: Path, pages: int = 2) -> Path:
    """Pages with shapes on them and no text at all, as a scanner makes them."""
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    with PdfPages(path) as pdf:
        for _ in range(pages):
            figure = Figure(figsize=(8.27, 11.69))  # no axes: their tick labels are text
            figure.add_artist(Rectangle((0.1, 0.1), 0.8, 0.6, color="0.3"))
            pdf.savefig(figure)
    return path


def write_docx(path: Path, paragraphs: list[str], title: str | None = None) -> Path:
    """A DOCX with a Title-styled heading and these paragraphs."""
    from docx import Document

    document = Document()
    if title:
        document.add_heading(title, level=0)
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    document.save(path)
    return path
