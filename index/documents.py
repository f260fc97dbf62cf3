"""Text out of PDF (pypdf) and DOCX (python-docx) files, laid out like a .txt article:
PDF pages and DOCX paragraphs joined by blank lines. The reader's offsets index into this
text, as they index into the text it extracts from HTML.

A file that cannot be read raises `DocumentError`, whose message says what to do; the reader
reports it as a Problem.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

SUFFIXES = (".pdf", ".docx")
FULL_LINE = 0.8  # a line this close to the page's usual width was wrapped, not ended
MIN_WIDTH = 40  # pages whose lines are all shorter (lists, tables) are left as they are
MAX_INFLATION = 100  # a DOCX's XML is text: it rarely unpacks past 10x its zipped size
MAX_PAGES = 2000  # about 100 s of pypdf at 50 ms a page
_BULLETS = tuple("•·*-–—")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # a Compound File: a password-protected .docx, or a .doc


class DocumentError(Exception):
    """A PDF or DOCX file the reader cannot take text from; the message says why."""


def document_text(suffix: str, data: bytes) -> str:
    """The text of a PDF or DOCX file's bytes (suffix ".pdf" or ".docx")."""
    return pdf_text(data) if suffix == ".pdf" else docx_text(data)


def pdf_text(data: bytes) -> str:
    """Each page's text layer, its wrapped lines joined into paragraphs; pages joined by
    blank lines. A PDF with pages but no text at all is a scan, which needs OCR first."""
    pages = [page for page in map(unwrap, _pdf_pages(data)) if page]
    if not pages:
        raise DocumentError("no text layer: a scanned PDF? run OCR on it first "
                            "(e.g. `ocrmypdf in.pdf out.pdf`) and add the result")
    return "\n\n".join(pages)


def _pdf_pages(data: bytes) -> list[str]:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):  # "" opens owner-only locks
            raise DocumentError("encrypted PDF that needs a password: save a copy without "
                                "the password and add that")
        if not reader.pages:
            raise DocumentError("PDF without pages")
        if len(reader.pages) > MAX_PAGES:
            raise DocumentError(f"a PDF of {len(reader.pages):,} pages: newsqa reads up to "
                                f"{MAX_PAGES:,} (split it, or add its text as .txt)")
        return [page.extract_text() or "" for page in reader.pages]
    except DependencyError:  # AES needs a crypto package pypdf does not bundle
        raise DocumentError("PDF encrypted with AES: install `pypdf[crypto]` to read it, "
                            "or save a copy without encryption") from None
    except _DAMAGED_PDF + (PyPdfError,) as error:
        raise DocumentError(f"damaged or not a PDF ({_reason(error)})") from None


# Besides its own PyPdfError, pypdf lets these escape on malformed files.
_DAMAGED_PDF = (ValueError, KeyError, IndexError, zlib.error, struct.error, RecursionError)


def docx_text(data: bytes) -> str:
    """The body's paragraphs (headers, footers and tables left out), joined by blank lines."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from lxml.etree import XMLSyntaxError

    _check_inflated_size(data)
    if data.startswith(_OLE_MAGIC):
        raise DocumentError("password-protected DOCX (or an old .doc file renamed): save it "
                            "as a .docx without a password")
    try:
        paragraphs = [p.text.strip() for p in docx.Document(io.BytesIO(data)).paragraphs]
    except (PackageNotFoundError, zipfile.BadZipFile, XMLSyntaxError, KeyError, ValueError,
            NotImplementedError, EOFError, zlib.error) as error:
        raise DocumentError(f"damaged or not a DOCX ({_reason(error)})") from None
    return "\n\n".join(p for p in paragraphs if p)


def _check_inflated_size(data: bytes) -> None:
    """A DOCX is a zip: refuse one that would inflate past MAX_INFLATION times its size (a
    zip bomb would take the serving process's memory) before python-docx reads it."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inflated = sum(item.file_size for item in archive.infolist())
    except (zipfile.BadZipFile, ValueError):
        return  # not a zip: python-docx says what is wrong with it
    if inflated > MAX_INFLATION * max(len(data), 1):
        raise DocumentError(f"a DOCX that unpacks to {inflated / 2**20:.0f} MB, "
                            f"{inflated // max(len(data), 1)} times its size: not read")


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def unwrap(page: str) -> str:
    """A page's lines as a .txt file holds them: one paragraph per line. PDF text breaks
    lines where the page ran out of width, and a line break ends a sentence for the layout
    parser and the sentence splitter. A line that (nearly) fills the page's usual width
    goes on into the next line; a shorter one ends a paragraph, or is a headline or a date.
    >>> print(unwrap("Port reopens\\nThe port reopened on Monday after the storm had closed it,"
    ...              "\\nofficials said."))
    Port reopens
    The port reopened on Monday after the storm had closed it, officials said.
    """
    lines = [line.strip() for line in page.splitlines()]
    lengths = sorted(len(line) for line in lines if line)
    if not lengths or lengths[len(lengths) * 3 // 4] < MIN_WIDTH:
        return "\n".join(lines).strip()
    width = lengths[len(lengths) * 3 // 4]  # the usual line: robust to a few long ones
    paragraphs: list[str] = []
    wrapped = False  # whether the previous line was cut by the page width
    for line in lines:
        if wrapped and line and not line.startswith(_BULLETS):
            glue = "" if paragraphs[-1][-2:-1].isalpha() and paragraphs[-1][-1] == "-" else " "
            paragraphs[-1] += glue + line
        else:
            paragraphs.append(line)
        wrapped = len(line) >= FULL_LINE * width
    return "\n".join(paragraphs).strip()
