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
_NAME = r"(?:The\s+)?[A-Z][\w&.'’-]*(?:\s+(?:of\s+|the\s+|and\s+|&\s+)?[A-Z][\w&.'’-]*){0,4}"
_BYLINE = re.compile(r"^By\s+([A-Z][\w.'’-]*(?:[ ,]+(?:and\s+)?[A-Z][\w.'’-]*){0,6})$")
_DATELINE = re.compile(
    r"^([A-Z][A-Z.'’ -]{2,30}(?:,\s+[A-Z][a-z]+(?: [A-Z][a-z]+)?)?)\s*"
    r"(?:\((AP|Reuters|AFP|UPI|dpa|Xinhua)\))?\s*(?:—|–|-|:)\s"
)
_OUTLET_NOTE = re.compile(r"edited by (The [A-Z][\w]*(?: [A-Z][\w]*){0,4})")
_OUTLET_NAME = re.compile(rf"^{_NAME}$")
# "Source: Reuters", "© Reuters 2026", "Copyright 2026 The Associated Press. All rights reserved."
_SOURCE_LINE = re.compile(rf"^Source:\s*({_NAME})\.?$")
_COPYRIGHT_LINE = re.compile(
    rf"^(?:©|\([cC]\)|Copyright)(?:\s*©)?\s*(?:\d{{4}}\s+)?({_NAME})[.,]?(?:\s+\d{{4}}[.,]?)?"
    r"(?:\s+(?i:all rights reserved)\.?)?$"
)
# A date line's trailing part after a separator: "Published 2 February 2026 · Reuters"
_SEPARATOR = re.compile(r"\s+[·|•—–-]\s+")
_HEADING_MARK = re.compile(r"^(#{1,6}\s+)(\S.*)$")  # a Markdown heading's "#"s

_MONTHS = {m: i for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"], start=1)}
_MONTHS |= {name[:3]: num for name, num in list(_MONTHS.items())} | {"sept": 9}
_WEEKDAY_NUMBERS = {day: i for i, day in enumerate(
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"])}
_WEEKDAY_NUMBERS |= {day[:3]: i for day, i in list(_WEEKDAY_NUMBERS.items())}
_WEEKDAY_NUMBERS |= {"tues": 1, "thur": 3, "thurs": 3}
_DATE_WORDS = {"updated", "published", "posted", "last", "on", "at", "am", "pm", "a.m.", "p.m.",
               "gmt", "utc", "et", "edt", "est", "bst", "cet", "ast"}
_DATE_TOKEN = re.compile(r"[A-Za-z.]+|\d{1,4}(?::\d{2})?(?:st|nd|rd|th)?")
_ORDINAL = re.compile(r"(?<=\d)(st|nd|rd|th)$")
# An ISO date with an optional time and zone: 2026-02-02, 2026-02-02T10:00:00Z, ...+01:00
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})"
                       r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?!\d)")
_YEAR = re.compile(r"\b(19\d\d|20\d\d|2100)\b")
_SENTENCE_END = tuple(".!?”\"’)")
CAPTION_ZONE = 30  # captions repeated further down the text sit in an article's first lines


@dataclass(frozen=True)
class Line:
    start: int  # offset of the first non-blank character
    end: int  # offset after the last non-blank character
    text: str
    heading: bool = False  # a Markdown heading: its "#" marks lie just before `start`

    @property
    def blank(self) -> bool:
        return not self.text


def split_lines(text: str, base: int = 0) -> list[Line]:
    """Lines of `text` with stripped content and offsets (plus `base`) into the file.
    A Markdown heading's "#" marks are markup, not text: its line starts after them."""
    lines, pos = [], 0
    for raw in text.splitlines(keepends=True):
        body = raw.rstrip("\r\n")
        stripped = body.strip()
        start = base + pos + len(body) - len(body.lstrip())
        if heading := _HEADING_MARK.match(stripped):
            start += len(heading.group(1))
            stripped = heading.group(2)
        lines.append(Line(start, start + len(stripped), stripped, heading=bool(heading)))
        pos += len(raw)
    return lines


def is_furniture(line: str) -> bool:
    """Page furniture: navigation words, breadcrumbs, disclaimers."""
    plain = line.strip().rstrip(":").lower()
    return (plain in FURNITURE or bool(_BREADCRUMB.match(line) and ">" in line)
            or bool(_DISCLAIMER.match(line)))


@dataclass(frozen=True)
class DateLine:
    """A line that is a date (and maybe an outlet or byline after a separator)."""

    written: str  # the date as written, without the trailing part
    month: int
    day: int
    year: int | None = None  # None when the line gives no year
    weekday: int | None = None  # 0 = Monday, when the line names one
    rest: str | None = None  # "Reuters" in "Published 2 February 2026 · Reuters"

    @property
    def iso(self) -> str | None:
        return _iso(self.year, self.month, self.day) if self.year else None


def parse_date(line: str) -> tuple[str | None, str | None]:
    """(ISO date, date as written) when the line is a date, else (None, None).

    A date without a year keeps its text and no ISO date: this never guesses the year.
    >>> parse_date("Updated 29 June 2021")
    ('2021-06-29', 'Updated 29 June 2021')
    >>> parse_date("Published 2 February 2026 · Reuters")
    ('2026-02-02', 'Published 2 February 2026')
    >>> parse_date("11:21 AM on Tuesday, November 11")
    (None, '11:21 AM on Tuesday, November 11')
    """
    found = date_line(line)
    return (found.iso, found.written) if found else (None, None)


def date_line(line: str) -> DateLine | None:
    """The date in a line that holds nothing else, or a dated line with a name after a
    separator ("·", "|", "—", "-") in either order: "Reuters | 2 Feb 2026". The name form
    needs the year: "May 5 — Polls Open" is more likely a timeline's subheading."""
    if len(line) > 80:
        return None
    if found := _whole_date(line):
        return found
    parts = _SEPARATOR.split(line)
    if len(parts) != 2:
        return None
    for written, rest in (parts, parts[::-1]):
        found = _whole_date(written)
        if found and found.year and _names_someone(rest):
            return replace(found, rest=rest)
    return None


def _names_someone(text: str) -> bool:
    """An outlet or a byline: what follows a date after a separator."""
    return bool(_OUTLET_NAME.match(text) or _BYLINE.match(text))


def _whole_date(line: str) -> DateLine | None:
    """A date when every word of the line is a date word: month, weekday, "Updated", "ET"..."""
    iso = _ISO_DATE.search(line)
    if iso:  # the ISO date is one token; the rest of the line must still be date words
        rest = line[:iso.start()] + " " + line[iso.end():]
        if any(t.isalpha() and t not in _DATE_WORDS for t in _date_tokens(rest)):
            return None
        year, month, day = map(int, iso.groups())
        return DateLine(line, month, day, year) if _iso(year, month, day) else None
    tokens = _date_tokens(line)
    months = [_MONTHS[t] for t in tokens if t in _MONTHS]
    known = _DATE_WORDS | set(_WEEKDAY_NUMBERS) | set(_MONTHS)
    if len(months) != 1 or any(t.isalpha() and t not in known for t in tokens):
        return None
    numbers = [int(t) for t in tokens if t.isdigit()]
    years = [n for n in numbers if 1900 <= n <= 2100]
    days = [n for n in numbers if 1 <= n <= 31]
    weekdays = {_WEEKDAY_NUMBERS[t] for t in tokens if t in _WEEKDAY_NUMBERS}
    if not days or (years and not _iso(years[0], months[0], days[0])):
        return None
    return DateLine(line, months[0], days[0], years[0] if years else None,
                    weekdays.pop() if len(weekdays) == 1 else None)


def _date_tokens(line: str) -> list[str]:
    """Lower-case words (a trailing full stop dropped: "Feb.") and numbers ("2nd" -> "2")."""
    tokens = []
    for token in _DATE_TOKEN.findall(line.lower()):
        if token in _DATE_WORDS:
            tokens.append(token)
        elif token[:1].isdigit():
            tokens.append(_ORDINAL.sub("", token))
        else:
            tokens.append(token.rstrip("."))
    return tokens


def year_from_context(found: DateLine, text: str) -> int | None:
    """The year of a yearless date, only when the text settles it: of the years the text
    mentions, the one (and only one) in which the date falls on the weekday the line names.
    >>> year_from_context(date_line("Tuesday, November 11"), "In 2024 ... since 2025 ...")
    2025
    """
    if found.year or found.weekday is None:
        return None
    mentioned = {int(y) for y in _YEAR.findall(text)}
    fits = [y for y in mentioned if _weekday(y, found.month, found.day) == found.weekday]
    return fits[0] if len(fits) == 1 else None


def _weekday(year: int, month: int, day: int) -> int | None:
    try:
        return date(year, month, day).weekday()
    except ValueError:  # 29 February of a year that is not a leap year
        return None


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
        if date_line(line.text) and body_seen >= 2:
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
    in_body = False  # past the header: a date line there is text (a timeline entry)
    for i, line in enumerate(lines):
        keep = _keep_line(line, i, lines, last_copy, meta, in_body)
        kept.append(line if keep else None)
        in_body = in_body or (keep and len(line.text) > 160)
    meta.setdefault("title", _title(lines))
    body = [line for line in kept if line is not None and not line.blank]
    _find_dateline(body, meta)
    if meta.get("date_text") and not meta.get("published"):
        meta["published"] = _published_from_context(meta["date_text"], lines)
    meta["published_ts"] = epoch_of(meta.get("published"))
    return Article(article_id=aid, source=source, spans=_spans(kept), **meta)


def _keep_line(line: Line, i: int, lines: list[Line], last_copy: dict, meta: dict,
               in_body: bool = False) -> bool:
    """Whether a line is article text; metadata lines are recorded in `meta` instead. Date
    lines are metadata only in the header, before the body's first paragraph."""
    text = line.text
    if line.blank:
        return True
    if is_furniture(text):
        if outlet := _OUTLET_NOTE.search(text):
            meta.setdefault("outlet", outlet.group(1))
        return False
    if not in_body and (found := date_line(text)):
        if "date_text" not in meta:  # the first date is the article's; any later one is
            meta.update(date_text=found.written, published=found.iso)  # an update time
            if found.rest:
                _note_byline_or_outlet(found.rest, meta)
        return False
    if _BYLINE.match(text):
        _note_byline_or_outlet(text, meta)
        return False
    if outlet := _SOURCE_LINE.match(text) or _COPYRIGHT_LINE.match(text):
        meta.setdefault("outlet", outlet.group(1).rstrip("."))
        return False
    if _PHOTO_CREDIT.search(text) and len(text) < 400 and not _has_body_before(lines, i):
        return False  # a photo caption above the article
    return last_copy.get(_norm(text), i) == i and not _repeated_later(line, i, lines)


def _note_byline_or_outlet(text: str, meta: dict) -> None:
    """Record "By Jane Doe, Reuters" (a byline and its outlet), "By Jane Doe" or "Reuters"."""
    if byline := _BYLINE.match(text):
        names, outlet = split_byline(byline.group(1))
        meta.setdefault("byline", names)
        if outlet:
            meta.setdefault("outlet", outlet)
    else:
        meta.setdefault("outlet", text)


def split_byline(byline: str) -> tuple[str, str | None]:
    """(names, outlet) of a byline. Several people are joined by "and" ("Jane Doe and John
    Roe", "A, B and C"), so a last comma-separated part without "and" is where they work.
    >>> split_byline("Jane Doe, Reuters")
    ('Jane Doe', 'Reuters')
    >>> split_byline("Ann Lee, Bo Kim and Cy Park")
    ('Ann Lee, Bo Kim and Cy Park', None)
    """
    names, comma, last = byline.rpartition(",")
    if not comma or "and" in last.lower().split():
        return byline, None
    return names.strip(), last.strip()


def _published_from_context(date_text: str, lines: list[Line]) -> str | None:
    """The ISO date of a yearless date line when the article's text settles its year."""
    found = date_line(date_text)
    year = year_from_context(found, "\n".join(line.text for line in lines)) if found else None
    return replace(found, year=year).iso if year else None


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
        if (line.blank or is_furniture(line.text) or date_line(line.text)
                or _BYLINE.match(line.text)):
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
    """Runs of kept lines (blank lines inside a run are fine), cut at every removed line and
    before every Markdown heading (so that no span holds a heading's "#" marks)."""
    spans: list[tuple[int, int]] = []
    run: list[Line] = []
    for line in kept + [None]:
        if line is None or line.heading:
            text_lines = [x for x in run if not x.blank]
            if text_lines:
                spans.append((text_lines[0].start, text_lines[-1].end))
            run = [line] if line else []
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
