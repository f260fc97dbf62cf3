"""Read one article file (.txt, .md, .html, .json, .jsonl, .pdf, .docx) into articles with
exact offsets.

Offsets refer to `ReadResult.text`: for .txt/.md that is the file's decoded text itself;
for .html/.json/.jsonl it is the article text the reader extracted (title, blank line,
body per article, articles separated by blank lines), since markup has no clean offsets;
for .pdf/.docx it is the extracted text (pages or paragraphs joined by blank lines), which
the layout parser then reads like a .txt file.
Bad input never raises: it comes back as `Problem`s.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path

from index import documents
from index.layout import article_id, date_line, parse_articles, parse_date, with_metadata
from index.types import Article, Problem, ReadResult

PLAIN = (".txt", ".md", ".markdown")
SUPPORTED = {*PLAIN, ".html", ".htm", ".json", ".jsonl", *documents.SUFFIXES}
FALLBACK_ENCODINGS = ("cp1252", "latin-1")
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
TOO_DEEP = "JSON nested too deeply to read (arrays or objects inside each other thousands deep)"


def source_name(path: Path, corpus_dir: Path, resolved: bool = False) -> str:
    """The path relative to the corpus dir with '/' separators (absolute when outside).
    `resolved`: both are resolved already (an ingest's walk resolves them, and resolving
    every file again was most of a no-op ingest's cost)."""
    if not resolved:
        path, corpus_dir = Path(path).resolve(), Path(corpus_dir).resolve()
    return path.relative_to(corpus_dir).as_posix() if path.is_relative_to(corpus_dir) \
        else path.as_posix()


def read_file(path: Path, corpus_dir: Path, *, max_bytes: int = DEFAULT_MAX_BYTES,
              data: bytes | None = None) -> ReadResult:
    """Articles of one file, or the problems that kept it out. `data` is the file's
    content when the caller has already read it (ingest does, for the fingerprint).

    >>> read_file(Path("data/articles/004_94450483d03d6010.txt"), Path("data/articles"))
    ... # doctest: +SKIP
    ReadResult(articles=[Article(... published='2021-06-29' ...), Article(... '2026-01-10' ...)])
    """
    source = source_name(path, corpus_dir)
    problem = _check_size(Path(path), source, max_bytes)
    if problem:
        return ReadResult(problems=[problem])
    if data is None:
        data = Path(path).read_bytes()
    suffix = Path(path).suffix.lower()
    text, problems = _text_of(suffix, data, source)
    if text is None:
        return ReadResult(problems=problems)
    result = _parse(suffix, text, source)
    result.problems[:0] = problems + _yearless_dates(result.articles) + _years_from_text(
        result.articles)
    if not result.articles and not any(p.skipped and p.line is None for p in result.problems):
        result.problems.append(Problem(source, "no article text found"))
    return result


def _yearless_dates(articles: list[Article]) -> list[Problem]:
    """Dates written without a year are kept as text; say so rather than guess the year."""
    return [Problem(a.source, f"date {a.date_text!r} has no year: kept as written, "
                              "publication date left unknown", skipped=False)
            for a in articles if a.date_text and not a.published]


def _years_from_text(articles: list[Article]) -> list[Problem]:
    """A yearless date whose year the article's text settled: say which year was taken."""
    return [Problem(a.source, f"date {a.date_text!r} has no year: took {a.published[:4]}, the "
                              "only year the text mentions in which that day is that weekday",
                    skipped=False)
            for a in articles if a.published and a.date_text and _yearless(a.date_text)]


def _yearless(date_text: str) -> bool:
    found = date_line(date_text)
    return found is not None and found.year is None


def _check_size(path: Path, source: str, max_bytes: int) -> Problem | None:
    size = path.stat().st_size
    if size > max_bytes:
        limit = max_bytes / 1024 / 1024
        return Problem(source, f"file is {size / 1024 / 1024:.1f} MB, over the {limit:g} MB "
                               "limit (NEWSQA_MAX_FILE_MB)")
    return None


def _text_of(suffix: str, data: bytes, source: str) -> tuple[str | None, list[Problem]]:
    """The text offsets will refer to: PDF and DOCX bytes are extracted (never decoded as
    text: they are binary), all other files decoded."""
    if suffix not in documents.SUFFIXES:
        return decode(data, source)
    if not data.strip():
        return None, [Problem(source, "empty file")]
    try:
        return documents.document_text(suffix, data), []
    except documents.DocumentError as error:
        return None, [Problem(source, str(error))]


def decode(data: bytes, source: str) -> tuple[str | None, list[Problem]]:
    """UTF-8 text, or a fallback decoding reported as a (non-skipping) problem."""
    if not data.strip():
        return None, [Problem(source, "empty file")]
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # NUL bytes, yet text
        try:
            return data.decode("utf-16"), [Problem(source, "read as UTF-16", skipped=False)]
        except UnicodeDecodeError as error:
            return None, [Problem(source, f"starts like UTF-16 but is not ({error.reason})")]
    if _looks_binary(data):
        return None, [Problem(source, "binary file, not text")]
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as error:
        bad = f"byte 0x{data[error.start]:02x} at offset {error.start}"
    for encoding in FALLBACK_ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        note = f"not valid UTF-8 ({bad}); read as {encoding}"
        return text, [Problem(source, note, skipped=False)]
    return None, [Problem(source, f"not valid UTF-8 ({bad}) and no fallback decoding worked")]


def _looks_binary(data: bytes) -> bool:
    """NUL bytes or many control characters in the first 8 KB: not a text file."""
    head = data[:8192]
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return controls > len(head) * 0.05


def _parse(suffix: str, text: str, source: str) -> ReadResult:
    if suffix in (".html", ".htm"):
        return _from_records([_html_record(text)], source)
    if suffix == ".json":
        return _read_json(text, source)
    if suffix == ".jsonl":
        return _read_jsonl(text, source)
    if suffix in PLAIN or suffix in documents.SUFFIXES:  # extracted text reads like .txt
        return ReadResult(articles=parse_articles(text, source), text=text)
    return ReadResult(problems=[Problem(source, f"unsupported file type {suffix or '(none)'}")])


def _read_json(text: str, source: str) -> ReadResult:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        return ReadResult(problems=[Problem(source, f"malformed JSON: {error.msg}",
                                            line=error.lineno)])
    except RecursionError:
        return ReadResult(problems=[Problem(source, TOO_DEEP)])
    records = data.get("articles", [data]) if isinstance(data, dict) else data
    if not isinstance(records, list):
        return ReadResult(problems=[Problem(source, "JSON is neither an object nor a list")])
    return _from_records(records, source)


def _read_jsonl(text: str, source: str) -> ReadResult:
    records, problems = [], []
    # split at "\n" only: splitlines() also breaks at \x0b, \x1c, U+2028... inside a
    # record's text, and the reported line numbers drifted from the editor's
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            problems.append(Problem(source, f"malformed JSON line skipped: {error.msg}",
                                    line=number))
        except RecursionError:
            problems.append(Problem(source, f"line skipped: {TOO_DEEP}", line=number))
    result = _from_records(records, source)
    result.problems[:0] = problems
    return result


# Field names seen in news exports, first match wins.
_FIELDS = {
    "title": ("title", "headline"),
    "text": ("text", "body", "content", "article", "maintext"),
    "date": ("date", "published", "published_at", "date_publish", "pubdate"),
    "url": ("url", "link"),
    "outlet": ("source", "outlet", "publisher", "sitename", "source_domain"),
    "byline": ("byline", "author", "authors"),
}


def _field(record: dict, name: str) -> str | None:
    for key in _FIELDS[name]:
        value = record.get(key)
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        if isinstance(value, dict):
            value = value.get("name")
        if value:
            return str(value).strip()
    return None


def _from_records(records: list, source: str) -> ReadResult:
    """Articles from dict records; the result text is built from their titles and bodies."""
    result = ReadResult()
    parts: list[str] = []
    offset = 0
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict) or not _field(record, "text"):
            result.problems.append(Problem(source, "record without text skipped", line=number))
            continue
        block = "\n\n".join(p for p in (_field(record, "title"), _field(record, "text")) if p)
        article = _record_article(record, block, source, len(result.articles), offset)
        if article:
            result.articles.append(article)
        parts.append(block)
        offset += len(block) + 2
    result.text = "\n\n".join(parts)
    return result


def _record_article(record: dict, block: str, source: str, index: int,
                    offset: int) -> Article | None:
    parsed = parse_articles(block, source, base=offset)
    if not parsed:
        return None
    article = parsed[0]
    if len(parsed) > 1:  # one record is one article, whatever its text looks like
        spans = tuple(s for a in parsed for s in a.spans)
        article = with_metadata(article, spans=spans)
    raw_date = _field(record, "date")
    return with_metadata(
        article, article_id=article_id(source, index), title=_field(record, "title"),
        published=_record_date(raw_date), date_text=raw_date, url=_field(record, "url"),
        outlet=_field(record, "outlet"), byline=_field(record, "byline"),
    )


def _record_date(raw: str | None) -> str | None:
    """ISO date from a record's date field: ISO strings, or written dates with a year."""
    if not raw:
        return None
    if len(raw) >= 10 and raw[4] == "-" and raw[7] == "-":
        return raw[:10]
    return parse_date(raw)[0]


def _html_record(html: str) -> dict:
    """Main text and metadata of an HTML page (trafilatura; htmldate when it finds no date)."""
    import trafilatura  # imported lazily: it is slow to import and only HTML needs it

    found = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False)
    doc = found.as_dict() if found is not None else {}
    record = {k: doc.get(k) for k in ("title", "text", "date", "url", "author", "sitename")}
    if not record["date"]:
        from htmldate import find_date

        record["date"] = find_date(html, extensive_search=False)
    return record
