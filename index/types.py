"""What the index side produces: articles read from files, and the chunks stored in Chroma.

Offsets are into the source file's decoded text: file_text[chunk.start:chunk.end] == chunk.text.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Article:
    article_id: str  # stable across runs: derived from source path and position in the file
    source: str  # path relative to the corpus dir, with "/" separators
    spans: tuple[tuple[int, int], ...]  # body text blocks (furniture left out), file offsets
    title: str | None = None
    published: str | None = None  # ISO 8601 date, only when the year is known
    published_ts: int | None = None  # epoch seconds (UTC midnight) of `published`
    date_text: str | None = None  # the date as written, e.g. "11:21 AM on Tuesday, November 11"
    outlet: str | None = None
    byline: str | None = None
    dateline: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Chunk:
    id: str  # article id + content hash: unchanged text keeps its id
    article_id: str
    source: str
    start: int
    end: int
    text: str
    title: str | None = None
    published: str | None = None
    published_ts: int | None = None
    outlet: str | None = None
    byline: str | None = None
    dateline: str | None = None
    date_text: str | None = None  # the date as written (also when its year is unknown)

    def metadata(self) -> dict:
        """Chroma metadata: scalars only, None values left out (Chroma rejects them)."""
        meta = asdict(self)
        for key in ("id", "text"):
            meta.pop(key)
        return {k: v for k, v in meta.items() if v is not None}

    @classmethod
    def from_record(cls, id: str, text: str, metadata: dict) -> Chunk:
        """From a stored record; metadata keys this version does not know are left out.
        (Called once per chunk at every process start: the common case is kept cheap.)"""
        if metadata.keys() <= _METADATA_FIELDS:
            return cls(id=id, text=text, **metadata)
        return cls(id=id, text=text,
                   **{k: v for k, v in metadata.items() if k in _METADATA_FIELDS})


_METADATA_FIELDS = frozenset(Chunk.__dataclass_fields__) - {"id", "text"}


@dataclass
class Problem:
    """A file (or line of one) that was skipped or read with a fallback, and why."""

    source: str
    reason: str
    line: int | None = None
    skipped: bool = True

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.reason}"


@dataclass
class ReadResult:
    articles: list[Article] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    text: str = ""  # the decoded file text all offsets refer to
