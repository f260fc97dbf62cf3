"""The corpus folder as a library the page can change: add a file (an upload, or a web page
fetched by URL), delete one, read one again. Every change is an ingest of what changed.

Nothing from the browser is trusted as a path: an upload keeps only a cleaned-up base name
and is written inside the corpus folder; a deletion names a source the index holds, and
the file is moved into the corpus folder's `.deleted/` (hidden from the ingest), not
destroyed, so a wrong click loses nothing.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
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
    """`local`: the page is served to this machine only, so a URL may name a private
    address (a page on the LAN or this machine); served further, only public ones."""

    def __init__(self, settings: Settings, progress: bool = False, local: bool = True) -> None:
        self.settings = settings
        self.folder = Path(settings.corpus_dir).resolve()
        self.progress = progress  # tqdm bars, which the page shows as its progress bar
        self.local = local

    def add(self, name: str, data: bytes) -> Change:
        """Stores an uploaded file in the corpus folder under a safe name, and ingests it.
        The same content uploaded again is not stored twice."""
        safe = safe_name(name)
        self._check_size(len(data), safe)
        target = self._write(safe, data)
        return Change(target.name, self._ingest([target]))

    def add_url(self, url: str) -> Change:
        """Fetches a web page (or a PDF, text or JSON file) and adds it like an upload."""
        data, content_type = fetch(url, self._max_bytes, private=self.local)
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
        # Its whole corpus path in the name, and a stamp: two deletions never meet.
        where = path.relative_to(self.folder).as_posix().replace("/", "__")
        kept = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}-{where}"
        os.rename(path, trash / kept)
        return Change(source, self._ingest([path]))  # the path alone: its chunks go

    def reread(self, source: str) -> Change:
        """Reads one file again, even when it looks unchanged, and updates its chunks."""
        return Change(source, self._ingest([self._path_of(source)], reread=True))

    def _ingest(self, paths: list[Path] | None, reread: bool = False) -> IngestReport:
        return ingest(self.settings, paths=paths, progress=self.progress, reread=reread)

    def _path_of(self, source: str) -> Path:
        """The file of a source name the page sent: only a file inside the corpus folder."""
        path = (self.folder / source).resolve()
        if (Path(source).is_absolute() or not path.is_relative_to(self.folder)
                or any(part.startswith(".") for part in path.relative_to(self.folder).parts)
                or path.suffix.lower() not in SUPPORTED):
            raise LibraryError(f"{source!r} is not an article file of the corpus folder "
                               f"{self.folder}; the page changes only those")
        if not path.is_file():
            raise LibraryError(f"{source} is no longer in {self.folder}: reload the list")
        return path

    def _write(self, name: str, data: bytes) -> Path:
        """Stores `data` as `name` in the folder, or as `stem-2.ext`, `stem-3.ext`… when
        that name holds other bytes (a file holding these very bytes is the one returned).
        Whole or not at all, and never over an existing file: the bytes go to a scratch
        file, which is then linked in under a free name."""
        self.folder.mkdir(parents=True, exist_ok=True)
        stem, suffix = Path(name).stem, Path(name).suffix
        scratch = self.folder / f".upload-{uuid.uuid4().hex[:8]}"
        try:
            scratch.write_bytes(data)
            for n in range(1, 1000):
                target = self.folder / (name if n == 1 else f"{stem}-{n}{suffix}")
                if target.is_file() and target.read_bytes() == data:
                    return target
                try:
                    os.link(scratch, target)
                    return target
                except FileExistsError:
                    continue
        except OSError as error:
            raise LibraryError(f"could not save {name} in {self.folder} "
                               f"({error.strerror or error})") from error
        finally:
            scratch.unlink(missing_ok=True)
        raise LibraryError(f"too many files named like {name}: rename it before uploading")

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


def fetch(url: str, max_bytes: int, private: bool = False) -> tuple[bytes, str | None]:
    """The body and content type of an http(s) URL, at most `max_bytes` long, within
    FETCH_SECONDS in all. Redirects are followed only to http(s) addresses; an address on
    this machine or a private network only when `private` (else the server could be made
    to read what only it can reach, and quote it)."""
    _check_address(url, private)
    opener = urllib.request.build_opener(_CheckedRedirects(private))
    request = urllib.request.Request(url, headers={"User-Agent": "newsqa"})
    deadline = time.monotonic() + FETCH_SECONDS
    try:
        with opener.open(request, timeout=FETCH_SECONDS) as response:
            data = b""
            while len(data) <= max_bytes and (piece := response.read(65536)):
                data += piece
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no answer in full within {FETCH_SECONDS} s")
            # (get_content_type() says text/plain when the server says nothing)
            content_type = response.headers.get_content_type() if response.headers.get(
                "Content-Type") else None
    except LibraryError:
        raise
    except (OSError, ValueError) as error:  # URLError and timeouts are OSErrors
        raise LibraryError(f"could not fetch {url} ({getattr(error, 'reason', error)}): check "
                           "the address, or save the page and upload the file") from error
    if len(data) > max_bytes:
        raise LibraryError(f"{url} is larger than {max_bytes / 2**20:g} MB (NEWSQA_MAX_FILE_MB)")
    return data, content_type


def _check_address(url: str, private: bool) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LibraryError(f"{url!r} is not a web address: give one that starts with https://")
    if private:
        return
    try:
        found = {info[4][0] for info in socket.getaddrinfo(parts.hostname, None)}
    except OSError as error:
        message = f"could not find {parts.hostname} ({error}): check the address"
        raise LibraryError(message) from error
    if not all(ipaddress.ip_address(address.split("%")[0]).is_global for address in found):
        raise LibraryError(f"{parts.hostname} is an address on this machine or a private "
                           "network, which a page served to others may not fetch")


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to where the first address could have gone."""

    def __init__(self, private: bool) -> None:
        self.private = private

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        _check_address(newurl, self.private)
        return super().redirect_request(req, fp, code, msg, headers, newurl)
