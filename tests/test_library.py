"""The library (#12): files added by upload or URL, deleted and read again from the page,
each change ingested; no path from the browser is trusted."""

from __future__ import annotations

import http.server
import threading
from contextlib import contextmanager

import pytest
from conftest import make_settings

from index.embedder import HashEmbedder
from index.ingest import ingest
from index.library import DELETED, Library, LibraryError, safe_name
from index.store import open_store

STORY = ("Port reopens after storm\n\nThe port of Zanzibar reopened on Monday after a storm "
         "had closed it for three days, officials said.\n")


@pytest.fixture
def library(tmp_path, corpus):
    settings = make_settings(tmp_path, corpus_dir=corpus, embedder="hash")
    return Library(settings)


def sources(library: Library) -> set[str]:
    store = open_store(library.settings, HashEmbedder())
    try:
        return {c.source for c in store.all_chunks()}
    finally:
        store.close()


@pytest.mark.parametrize(("name", "expected"), [
    ("story.txt", "story.txt"),
    ("../../etc/cron.d/job.txt", "job.txt"),
    ("C:\\Users\\me\\Desktop\\Bericht über Syrien.DOCX", "Bericht-uber-Syrien.docx"),
    (".hidden.md", "hidden.md"),
    ("...txt", "article.txt"),
    ("a" * 300 + ".html", "a" * 95 + ".html"),
])
def test_an_uploaded_name_is_only_a_safe_name(name, expected):
    assert safe_name(name) == expected


@pytest.mark.parametrize("name", ["virus.exe", "noext", "archive.tar.gz", "../passwd"])
def test_a_name_the_reader_cannot_take_is_refused_with_the_formats(name):
    with pytest.raises(LibraryError, match=r"newsqa reads .*\.docx"):
        safe_name(name)


def test_an_upload_is_stored_in_the_corpus_folder_and_ingested(library):
    change = library.add("../../outside/Port news.txt", STORY.encode())
    assert change.source == "Port-news.txt"
    assert (library.folder / "Port-news.txt").read_text() == STORY
    assert not (library.folder.parent / "outside").exists()
    assert change.report.files_changed == 1 and change.report.chunks_added >= 1
    assert "Port-news.txt" in sources(library)

    again = library.add("Port news.txt", STORY.encode())  # the same bytes: the same file
    assert again.source == "Port-news.txt" and again.report.chunks_added == 0
    other = library.add("Port news.txt", STORY.replace("Monday", "Friday").encode())
    assert other.source == "Port-news-2.txt" and other.report.chunks_added >= 1
    assert not list(library.folder.glob(".upload-*"))  # no scratch left behind


def test_a_deleted_article_leaves_the_index_and_is_kept_aside(library):
    ingest(library.settings, progress=False)
    victim = min(p.name for p in library.folder.glob("*.txt"))
    change = library.delete(victim)
    assert change.report.files_removed == 1 and change.report.chunks_removed > 0
    assert victim not in sources(library)
    kept = list((library.folder / DELETED).iterdir())
    assert [p.name.endswith(victim) for p in kept] == [True]
    library.add("more.txt", STORY.encode())  # the .deleted folder is not read back in
    assert victim not in sources(library)


@pytest.mark.parametrize("source", ["../../etc/passwd", "/etc/passwd", "missing.txt",
                                    f"{DELETED}/x.txt", ".env", "notes/.secret.txt",
                                    "script.py"])
def test_only_a_file_inside_the_corpus_folder_can_be_deleted(library, source):
    with pytest.raises(LibraryError):
        library.delete(source)


def test_reread_reads_an_unchanged_file_again(library):
    library.add("story.txt", STORY.encode())
    change = library.reread("story.txt")
    assert change.report.files_changed == 1 and change.report.files_unchanged == 0


def test_too_big_and_empty_uploads_are_refused(library, tmp_path):
    small = Library(make_settings(tmp_path, corpus_dir=library.folder, embedder="hash",
                                  max_file_mb=0.001))
    with pytest.raises(LibraryError, match="NEWSQA_MAX_FILE_MB"):
        small.add("big.txt", b"x" * 5000)
    with pytest.raises(LibraryError, match="empty"):
        library.add("empty.txt", b"")


PAGE = (b"<html><head><title>Port reopens</title></head><body><article><h1>Port reopens "
        b"after storm</h1><p>The port of Zanzibar reopened on Monday after a storm had closed "
        b"it for three days, officials said on Monday evening.</p><p>Ships queued outside the "
        b"harbour for most of the day while cranes were checked.</p></article></body></html>")


@contextmanager
def web_server(routes: dict[str, tuple[str, bytes]]):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path not in routes:
                self.send_error(404)
                return
            content_type, body = routes[self.path]
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_a_web_page_is_imported_by_url(library):
    with web_server({"/news/port-reopens": ("text/html; charset=utf-8", PAGE),
                     "/photo.png": ("image/png", b"\x89PNG")}) as base:
        change = library.add_url(f"{base}/news/port-reopens")
        with pytest.raises(LibraryError, match="image/png"):
            library.add_url(f"{base}/photo.png")
        with pytest.raises(LibraryError, match="could not fetch"):
            library.add_url(f"{base}/gone")
    assert change.source == "127.0.0.1-port-reopens.html"
    assert change.report.chunks_added >= 1
    assert change.source in sources(library)
    with pytest.raises(LibraryError, match="https://"):
        library.add_url("file:///etc/passwd")


def test_two_files_of_one_name_are_both_kept_when_deleted(library):
    for folder in ("a", "b"):
        (library.folder / folder).mkdir()
        (library.folder / folder / "same.txt").write_text(STORY.replace("Monday", folder))
    library.delete("a/same.txt")
    library.delete("b/same.txt")
    kept = sorted(p.read_text() for p in (library.folder / DELETED).iterdir())
    assert len(kept) == 2 and kept[0] != kept[1]


def test_a_page_served_to_others_fetches_no_private_address(library, tmp_path):
    """Review: the server could be made to read what only it can reach, and quote it."""
    shared = Library(make_settings(tmp_path, corpus_dir=library.folder, embedder="hash"),
                     local=False)
    with (web_server({"/page": ("text/html", PAGE)}) as base,
          pytest.raises(LibraryError, match="private network")):
        shared.add_url(f"{base}/page")
    assert not list(library.folder.glob("*.html"))


def test_a_redirect_is_followed_only_to_a_web_address(library):
    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(LibraryError, match="not allowed|not a web address"):
            library.add_url(f"http://127.0.0.1:{server.server_address[1]}/moved")
    finally:
        server.shutdown()
