"""The corpus folder as a library the page can change: add a file (an upload, or a web page
fetched by URL), delete one, read one again. Every change is an ingest of what changed.

Nothing from the browser is trusted as a path: an upload keeps only a cleaned-up base name
and is written inside the corpus folder; a deletion names a source the index holds, and
the file is moved into the corpus folder's `.deleted/` (hidden from the ingest), not
destroyed, so a wrong click loses nothing.
"""

from __future__ import annotations

import os
import re
import time
import unicodedata
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from index.ingest import IngestReport, ingest
from index.reader import SUPPORTED
from rag.config import Settings
from rag.errors import NewsqaError

DELETED = ".deleted"
MAX_NAME = 100  # characters of a file name kept from an upload
FETCH_SECONDS = 20
# What a fetched page is saved as, by its content type (the reader takes it from there).
SUFFIX_OF_TYPE = {"text/html": ".html", "application/xhtml+xml": ".html", "text/plain": ".txt",
                  "text/markdown": ".md", "application/json": ".json", "application/pdf": ".pdf"}


class LibraryError(NewsqaError):
    """A change to the library that cannot be made; the message says what to do."""


@dataclass
class Change:
    """What a change did: the source it touched, and the ingest that followed."""

    source: str
    report: IngestReport


class Library:
    def __init__(self, settings: Settings, progress: bool = False) -> None:
        self.settings = settings
        self.folder = Path(settings.corpus_dir).resolve()
        self.progress = progress  # tqdm bars, which the page shows as its progress bar

    def add(self, name: str, data: bytes) -> Change:
        """Stores an uploaded file in the corpus folder under a safe name, and ingests it.
        The same content uploaded again is not stored twice."""
        safe = safe_name(name)
        self._check_size(len(data), safe)
        target = self._free_path(safe, data)
        if not target.exists():
            self._write(target, data)
        return Change(target.name, self._ingest([target]))

    def add_url(self, url: str) -> Change:
        """Fetches a web page (or a PDF, text or JSON file) and adds it like an upload."""
        data, content_type = fetch(url, self._max_bytes)
        suffix = SUFFIX_OF_TYPE.get(content_type)
        if suffix is None:
            raise LibraryError(f"{url} sent {content_type or 'no content type'}; newsqa reads "
                               "web pages, PDF, text and JSON")
        return self.add(name_for_url(url, suffix), data)

    def delete(self, source: str) -> Change:
        """Moves the article file `source` (a name the index holds) into .deleted/ and takes
        its chunks out of the index."""
        path = self._path_of(source)
        trash = self.folder / DELETED
        trash.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        os.replace(path, trash / f"{stamp}-{path.name}")
        return Change(source, self._ingest(None))  # a whole-corpus run drops what is gone

    def reread(self, source: str) -> Change:
        """Reads one file again, even when it looks unchanged, and updates its chunks."""
        return Change(source, self._ingest([self._path_of(source)], reread=True))

    def _ingest(self, paths: list[Path] | None, reread: bool = False) -> IngestReport:
        return ingest(self.settings, paths=paths, progress=self.progress, reread=reread)

    def _path_of(self, source: str) -> Path:
        """The file of a source name the page sent: only a file inside the corpus folder."""
        path = (self.folder / source).resolve()
        if (Path(source).is_absolute() or not path.is_relative_to(self.folder)
                or DELETED in path.relative_to(self.folder).parts):
            raise LibraryError(f"{source!r} is not a file of the corpus folder {self.folder}; "
                               "the page changes only what is inside it")
        if not path.is_file():
            raise LibraryError(f"{source} is no longer in {self.folder}: reload the list")
        return path

    def _free_path(self, name: str, data: bytes) -> Path:
        """`name` in the folder, or `stem-2.ext`, `stem-3.ext`… when taken by other content
        (a file holding these very bytes is the one returned)."""
        stem, suffix = Path(name).stem, Path(name).suffix
        for n in range(1, 1000):
            path = self.folder / (name if n == 1 else f"{stem}-{n}{suffix}")
            if not path.exists() or path.read_bytes() == data:
                return path
        raise LibraryError(f"too many files named like {name}: rename it before uploading")

    def _write(self, target: Path, data: bytes) -> None:
        """Whole or not at all: a reader (or a crash) never sees half a file."""
        self.folder.mkdir(parents=True, exist_ok=True)
        scratch = self.folder / f".upload-{uuid.uuid4().hex[:8]}"
        try:
            scratch.write_bytes(data)
            os.replace(scratch, target)
        except OSError as error:
            raise LibraryError(f"could not save {target.name} in {self.folder} "
                               f"({error.strerror or error})") from error
        finally:
            scratch.unlink(missing_ok=True)

    @property
    def _max_bytes(self) -> int:
        return int(self.settings.max_file_mb * 1024 * 1024)

    def _check_size(self, size: int, name: str) -> None:
        if size > self._max_bytes:
            raise LibraryError(f"{name} is {size / 2**20:.1f} MB; newsqa reads files of up to "
                               f"{self.settings.max_file_mb:g} MB (NEWSQA_MAX_FILE_MB)")
        if size == 0:
            raise LibraryError(f"{name} is empty")


def safe_name(name: str) -> str:
    """A file name that is only a name: the last part of any path (either slash), letters,
    digits, '.', '-' and '_' only, no leading dot, and a suffix the reader takes.
    >>> safe_name("../../etc/Über Bericht (1).PDF")
    'Uber-Bericht-1.pdf'
    """
    base = re.split(r"[\\/]", name)[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    suffix = "." + suffix.lower() if suffix else ""
    if suffix not in SUPPORTED:
        formats = " ".join(sorted(SUPPORTED))
        raise LibraryError(f"{base or name!r}: newsqa reads {formats} files")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "article"
    return stem[:MAX_NAME - len(suffix)] + suffix


def name_for_url(url: str, suffix: str) -> str:
    """A file name from a URL: its host and last path part, e.g. example.org-story.html."""
    parts = urllib.parse.urlsplit(url)
    last = Path(parts.path).stem or "index"
    return safe_name(f"{parts.hostname or 'page'}-{last}{suffix}")


def fetch(url: str, max_bytes: int) -> tuple[bytes, str]:
    """The body and content type of an http(s) URL, at most `max_bytes` long."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise LibraryError(f"{url!r} is not a web address: give one that starts with https://")
    request = urllib.request.Request(url, headers={"User-Agent": "newsqa"})
    try:
        with urllib.request.urlopen(request, timeout=FETCH_SECONDS) as response:
            data = response.read(max_bytes + 1)
            content_type = response.headers.get_content_type()
    except (OSError, ValueError) as error:  # URLError and timeouts are OSErrors
        raise LibraryError(f"could not fetch {url} ({getattr(error, 'reason', error)}): check "
                           "the address, or save the page and upload the file") from error
    if len(data) > max_bytes:
        raise LibraryError(f"{url} is larger than {max_bytes / 2**20:g} MB (NEWSQA_MAX_FILE_MB)")
    return data, content_type
