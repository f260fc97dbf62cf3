"""How a scraped news text is laid out: which lines are article text, which are page
furniture or metadata, and where one article ends and the next begins.

Works on lines with their file offsets, so what it keeps can be cited exactly:
>>> [a.title for a in parse_articles("Search\\nTitle\\nUpdated 2 May 2024\\nBody.", "f.txt")]
['Title']
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from index.types import Article

# Lines that belong to the web page, not the article (compared case-insensitively).
FURNITURE = {
    "search", "short url", "follow", "helpful keywords", "audio by carbonatix", "share",
    "share this article", "advertisement", "read more", "related", "related articles",
    "skip to content", "menu", "subscribe", "sign up", "log in", "print", "email",
    "comments", "listen to this article", "copy link",
}
_BREADCRUMB = re.compile(r"^[\w&,'’ -]{2,40}(\s+[>»›/]\s+[\w&,'’ -]{2,40})+$")
_DISCLAIMER = re.compile(r"^This article was (translated|edited|originally published)", re.IGNORECASE)
_PHOTO_CREDIT = re.compile(
    r"\((AFP|AP|Reuters|Getty Images|EPA|file|AFP file|AP Photo|Reuters file)[^)]{0,40}\)$"
)
_BYLINE = re.compile(r"^By\s+([A-Z][\w.'’-]*(?:[ ,]+(?:and\s+)?[A-Z][\w.'’-]*){0,6})$")
_DATELINE = re.compile(
    r"^([A-Z][A-Z.'’ -]{2,30}(?:,\s+[A-Z][a-z]+(?: [A-Z][a-z]+)?)?)\s*"
    r"(?:\((AP|Reuters|AFP|UPI|dpa|Xinhua)\))?\s*(?:—|–|-|:)\s"
)
_OUTLET_NOTE = re.compile(r"edited by (The [A-Z][\w]*(?: [A-Z][\w]*){0,4})")

_MONTHS = {m: i for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"], start=1)}
_MONTHS |= {name[:3]: num for name, num in list(_MONTHS.items())} | {"sept": 9}
_WEEKDAYS = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
_WEEKDAYS |= {day[:3] for day in _WEEKDAYS} | {"tues", "thur", "thurs"}
_DATE_WORDS = {"updated", "published", "posted", "last", "on", "at", "am", "pm", "a.m.", "p.m.",
               "gmt", "utc", "et", "edt", "est", "bst", "cet", "ast"}
_DATE_TOKEN = re.compile(r"[A-Za-z.]+|\d{1,4}(?::\d{2})?")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_SENTENCE_END = tuple(".!?”\"’)")
CAPTION_ZONE = 30  # captions repeated further down the text sit in an article's first lines


@dataclass(frozen=True)
class Line:
    start: int  # offset of the first non-blank character
    end: int  # offset after the last non-blank character
    text: str

    @property
    def blank(self) -> bool:
        return not self.text


def split_lines(text: str, base: int = 0) -> list[Line]:
    """Lines of `text` with stripped content and offsets (plus `base`) into the file."""
    lines, pos = [], 0
    for raw in text.splitlines(keepends=True):
        body = raw.rstrip("\r\n")
        stripped = body.strip()
        lead = len(body) - len(body.lstrip())
        start = base + pos + lead
        lines.append(Line(start, start + len(stripped), stripped))
        pos += len(raw)
    return lines


def is_furniture(line: str) -> bool:
    """Page furniture: navigation words, breadcrumbs, disclaimers."""
    plain = line.strip().rstrip(":").lower()
    return (plain in FURNITURE or bool(_BREADCRUMB.match(line) and ">" in line)
            or bool(_DISCLAIMER.match(line)))


def parse_date(line: str) -> tuple[str | None, str | None]:
    """(ISO date, date as written) when the whole line is a date, else (None, None).

    A date without a year keeps its text and no ISO date: we never guess the year.
    >>> parse_date("Updated 29 June 2021")
    ('2021-06-29', 'Updated 29 June 2021')
    >>> parse_date("11:21 AM on Tuesday, November 11")
    (None, '11:21 AM on Tuesday, November 11')
    """
    if len(line) > 80:
        return None, None
    if iso := _ISO_DATE.search(line):
        return _iso(*map(int, iso.groups())), line
    tokens = [t.lower() for t in _DATE_TOKEN.findall(line)]
    months = [_MONTHS[t.rstrip(".")] for t in tokens if t.rstrip(".") in _MONTHS]
    known = _DATE_WORDS | _WEEKDAYS | set(_MONTHS)
    if len(months) != 1 or any(t.isalpha() and t.rstrip(".") not in known for t in tokens):
        return None, None
    numbers = [int(t) for t in tokens if t.isdigit()]
    years = [n for n in numbers if 1900 <= n <= 2100]
    days = [n for n in numbers if 1 <= n <= 31]
    if not days:
        return None, None
    return (_iso(years[0], months[0], days[0]) if years else None), line


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def epoch_of(iso: str | None) -> int | None:
    """Epoch seconds of UTC midnight of an ISO date (what date filters compare)."""
    if not iso:
        return None
    day = date.fromisoformat(iso[:10])
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def is_headline(line: Line) -> bool:
    """Short, no sentence ending: how headlines and section titles look."""
    return 0 < len(line.text) <= 160 and not line.text.endswith(_SENTENCE_END[:3] + (")",))


def article_id(source: str, index: int) -> str:
    """Stable id: the source path and the article's position in the file."""
    return f"{source}#{index}"


def split_articles(lines: list[Line]) -> list[list[Line]]:
    """Groups of lines, one per article. A new article starts at a headline block that
    leads to a standalone date line, once the current article has body text."""
    starts, body_seen = [0], 0
    for i, line in enumerate(lines):
        if parse_date(line.text)[1] and body_seen >= 2:
            head = _header_start(lines, i, floor=starts[-1])
            if head is not None:
                starts.append(head)
                body_seen = 0
        elif len(line.text) > 160:
            body_seen += 1
    bounds = starts + [len(lines)]
    return [lines[a:b] for a, b in itertools.pairwise(bounds)]


def _header_start(lines: list[Line], date_index: int, floor: int) -> int | None:
    """Index of the headline that opens the article whose date line is `date_index`."""
    head = None
    for j in range(date_index - 1, floor, -1):
        line = lines[j]
        if line.blank or is_furniture(line.text) or _PHOTO_CREDIT.search(line.text):
            continue
        if not is_headline(line):
            break
        head = j
    return head


def parse_articles(text: str, source: str, base: int = 0) -> list[Article]:
    """Articles in a plain-text (or markdown) news file, furniture left out of their spans."""
    groups = split_articles(split_lines(text, base))
    articles = [_parse_article(group, article_id(source, i), source)
                for i, group in enumerate(groups)]
    return [a for a in articles if a.spans]


def _parse_article(lines: list[Line], aid: str, source: str) -> Article:
    meta: dict = {}
    kept: list[Line | None] = []
    last_copy = _last_occurrences(lines)
    for i, line in enumerate(lines):
        kept.append(line if _keep_line(line, i, lines, last_copy, meta) else None)
    meta.setdefault("title", _title(lines))
    body = [line for line in kept if line is not None and not line.blank]
    _find_dateline(body, meta)
    meta["published_ts"] = epoch_of(meta.get("published"))
    return Article(article_id=aid, source=source, spans=_spans(kept), **meta)


def _keep_line(line: Line, i: int, lines: list[Line], last_copy: dict, meta: dict) -> bool:
    """Whether a line is article text; metadata lines are recorded in `meta` instead."""
    text = line.text
    if line.blank:
        return True
    if is_furniture(text):
        if outlet := _OUTLET_NOTE.search(text):
            meta.setdefault("outlet", outlet.group(1))
        return False
    iso, written = parse_date(text)
    if written and "date_text" not in meta:
        meta.update(date_text=written, published=iso)
        return False
    if byline := _BYLINE.match(text):
        meta.setdefault("byline", byline.group(1))
        return False
    if _PHOTO_CREDIT.search(text) and len(text) < 400 and not _has_body_before(lines, i):
        return False  # a photo caption above the article
    return last_copy.get(_norm(text), i) == i and not _repeated_later(line, i, lines)


def _last_occurrences(lines: list[Line]) -> dict[str, int]:
    """Where each repeated line last occurs: duplicated lines keep only their last copy."""
    last = {}
    for i, line in enumerate(lines):
        if len(line.text) > 20:
            last[_norm(line.text)] = i
    return last


def _repeated_later(line: Line, i: int, lines: list[Line]) -> bool:
    """A caption or pull quote near the top that a later paragraph repeats (and extends)."""
    if i >= CAPTION_ZONE or len(line.text) < 40:
        return False
    needle = _norm(line.text)
    return any(len(later.text) > len(line.text) and needle in _norm(later.text)
               for later in lines[i + 1:])


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def _has_body_before(lines: list[Line], i: int) -> bool:
    return any(len(line.text) > 160 for line in lines[:i])


def _title(lines: list[Line]) -> str | None:
    """The first headline-looking line before the body starts."""
    for line in lines:
        if line.blank or is_furniture(line.text) or parse_date(line.text)[1]:
            continue
        if len(line.text) > 160:
            return None
        if is_headline(line) or _quoted(line.text):
            return line.text.strip("“”\"' ")
        return None
    return None


def _quoted(text: str) -> bool:
    return len(text) <= 200 and text[:1] in "“\"" and text[-1:] in "”\""


def _find_dateline(body: list[Line], meta: dict) -> None:
    for line in body[:4]:
        if match := _DATELINE.match(line.text):
            meta.setdefault("dateline", match.group(1).strip())
            if match.group(2):
                meta.setdefault("outlet", match.group(2))
            return


def _spans(kept: list[Line | None]) -> tuple[tuple[int, int], ...]:
    """Runs of kept lines (blank lines inside a run are fine), cut at every removed line."""
    spans: list[tuple[int, int]] = []
    run: list[Line] = []
    for line in kept + [None]:
        if line is None:
            text_lines = [x for x in run if not x.blank]
            if text_lines:
                spans.append((text_lines[0].start, text_lines[-1].end))
            run = []
        else:
            run.append(line)
    return tuple(spans)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def with_metadata(article: Article, **fields) -> Article:
    """The article with record-level metadata (e.g. from JSON) taking precedence."""
    given = {k: v for k, v in fields.items() if v}
    if given.get("published"):
        given["published_ts"] = epoch_of(given["published"])
    return replace(article, **given)
