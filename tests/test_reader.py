"""The reader on the real bundled files, on each metadata form, on PDF and DOCX, and on bad
input."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from index.layout import is_furniture, parse_date
from index.reader import SUPPORTED, read_file
from tests.document_files import write_docx, write_pdf, write_scanned_pdf

BUNDLED = Path(__file__).resolve().parent.parent / "data" / "articles"
FURNITURE_LINES = ["Search", "Short Url", "Follow", "Helpful keywords", "Audio By Carbonatix",
                   "News > Politics & Government News"]


def read(name: str):
    return read_file(BUNDLED / name, BUNDLED)


def body_text(result) -> str:
    return "\n".join(result.text[a:b] for article in result.articles for a, b in article.spans)


def test_file_004_holds_two_dated_articles():
    result = read("004_94450483d03d6010.txt")
    assert [a.published for a in result.articles] == ["2021-06-29", "2026-01-10"]
    assert [a.title for a in result.articles] == [
        "US troops in Syria attacked after airstrikes on militias",
        "Syrian army pushes into Aleppo district after Kurdish groups reject withdrawal",
    ]
    assert [a.dateline for a in result.articles] == ["WASHINGTON", "ALEPPO, Syria"]
    first, second = result.articles
    assert first.spans[-1][1] < second.spans[0][0]  # consecutive, not overlapping
    assert "Aleppo" not in result.text[first.spans[0][0]:first.spans[-1][1]]
    assert result.articles[0].published_ts == 1624924800  # 2021-06-29T00:00Z


def test_yearless_date_is_kept_as_written_and_not_completed():
    result = read("003_e7575791f94f3015.txt")
    (article,) = result.articles
    assert article.date_text == "11:21 AM on Tuesday, November 11"
    assert article.published is None and article.published_ts is None
    assert any("no year" in p.reason and not p.skipped for p in result.problems)
    assert (article.byline, article.dateline, article.outlet) == ("ABBY SEWELL", "BEIRUT", "AP")


@pytest.mark.parametrize(("name", "title"), [
    ("000_d68abaf6e094f2ff.txt", None),  # starts straight with the body: no headline
    ("001_d3167d0071582912.txt", ("Syrian President Al-Sharaa Reaches Out to Trump with Rare "
                                  "Condolences After Deadly IS Attack on U.S. Troops in Palmyra")),
    ("002_7a285edda9df7335.txt", "CENTCOM Announces Joint Operation with Damascus Against ISIS"),
    ("003_e7575791f94f3015.txt", ("Syrian official says his country has joined the anti-IS "
                                  "coalition but not the military mission")),
])
def test_titles_found_where_present(name, title):
    assert [a.title for a in read(name).articles] == [title]


@pytest.mark.parametrize("path", sorted(BUNDLED.iterdir()), ids=lambda p: p.name)
def test_furniture_is_not_article_text(path):
    result = read_file(path, BUNDLED)
    lines = {line.strip() for line in body_text(result).splitlines()}
    assert not lines & set(FURNITURE_LINES)
    assert "Updated 29 June 2021" not in lines and "By ABBY SEWELL" not in lines


def test_duplicated_caption_kept_once():
    result = read("002_7a285edda9df7335.txt")
    caption = "Admiral Brad Cooper, CENTCOM’s commander, hailed the operation"
    assert result.text.count(caption) == 3
    assert body_text(result).count(caption) == 1
    assert "The Syrian Observer has not verified" not in body_text(result)
    assert result.articles[0].outlet == "The Syrian Observer"


def test_bullet_summaries_are_kept():
    result = read("004_94450483d03d6010.txt")
    assert "• Standoff pits government against Kurdish forces" in body_text(result)


@pytest.mark.parametrize(("line", "expected"), [
    ("Updated 29 June 2021", ("2021-06-29", "Updated 29 June 2021")),
    ("Published: March 3, 2024 10:15 GMT", ("2024-03-03", "Published: March 3, 2024 10:15 GMT")),
    ("2025-12-01", ("2025-12-01", "2025-12-01")),
    ("11:21 AM on Tuesday, November 11", (None, "11:21 AM on Tuesday, November 11")),
    ("Syria joined the coalition on November 12.", (None, None)),
    ("May the best team win", (None, None)),
    ("The report dated 2025-12-01 said so", (None, None)),  # an ISO date inside a sentence
    ("Monday, 2nd February 2026", ("2026-02-02", "Monday, 2nd February 2026")),
    ("Published 2 February 2026 | By Jane Doe", ("2026-02-02", "Published 2 February 2026")),
])
def test_parse_date(line, expected):
    assert parse_date(line) == expected


# -- metadata in common news forms: each line is read into the article, never into its text --

BODY = ("The port of Example reopened on Monday after a storm closed it for three days, "
        "officials said, and the first ships were unloaded by the evening.")


def read_text(tmp_path: Path, text: str, name: str = "story.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = read_file(path, tmp_path)
    (article,) = result.articles
    return result, article


def metadata(article) -> dict:
    fields = ("title", "published", "date_text", "outlet", "byline")
    return {f: getattr(article, f) for f in fields if getattr(article, f) is not None}


@pytest.mark.parametrize(("header", "expected"), [
    ("Updated 29 June 2021",
     {"published": "2021-06-29", "date_text": "Updated 29 June 2021"}),
    ("Published 2 February 2026 · Reuters",
     {"published": "2026-02-02", "date_text": "Published 2 February 2026", "outlet": "Reuters"}),
    ("Published 2 February 2026 | The Associated Press",
     {"published": "2026-02-02", "date_text": "Published 2 February 2026",
      "outlet": "The Associated Press"}),
    ("Reuters — 2 Feb 2026",
     {"published": "2026-02-02", "date_text": "2 Feb 2026", "outlet": "Reuters"}),
    ("Published: 2 February 2026",
     {"published": "2026-02-02", "date_text": "Published: 2 February 2026"}),
    ("February 2, 2026", {"published": "2026-02-02", "date_text": "February 2, 2026"}),
    ("Feb. 2, 2026 5:03 PM ET",
     {"published": "2026-02-02", "date_text": "Feb. 2, 2026 5:03 PM ET"}),
    ("2026-02-02T10:00:00Z", {"published": "2026-02-02", "date_text": "2026-02-02T10:00:00Z"}),
    ("Posted on Monday 2 February 2026",
     {"published": "2026-02-02", "date_text": "Posted on Monday 2 February 2026"}),
    ("By ABBY SEWELL", {"byline": "ABBY SEWELL"}),
    ("By Jane Doe, Reuters", {"byline": "Jane Doe", "outlet": "Reuters"}),
    ("By Jane Doe and John Roe", {"byline": "Jane Doe and John Roe"}),
    ("By Ann Lee, Bo Kim and Cy Park", {"byline": "Ann Lee, Bo Kim and Cy Park"}),
    ("Source: Reuters", {"outlet": "Reuters"}),
], ids=lambda value: value if isinstance(value, str) else "")
def test_metadata_line_is_read_and_left_out_of_the_text(tmp_path, header, expected):
    result, article = read_text(tmp_path, f"Port reopens after storm\n{header}\n\n{BODY}\n")
    assert metadata(article) == {"title": "Port reopens after storm", **expected}
    assert header not in body_text(result)
    assert BODY in body_text(result)


@pytest.mark.parametrize(("footer", "outlet"), [
    ("© Reuters 2026", "Reuters"),
    ("© 2026 BBC News", "BBC News"),
    ("Copyright 2026 The Associated Press. All rights reserved.", "The Associated Press"),
])
def test_copyright_line_names_the_outlet(tmp_path, footer, outlet):
    result, article = read_text(tmp_path, f"Port reopens after storm\n\n{BODY}\n\n{footer}\n")
    assert article.outlet == outlet
    assert footer not in body_text(result)


@pytest.mark.parametrize("heading", ["# Port reopens after storm", "## Port reopens after storm"])
def test_markdown_heading_gives_the_title_without_its_marks(tmp_path, heading):
    text = f"{heading}\n\n{BODY}\n\n### Prices\n\n{BODY}\n"
    result, article = read_text(tmp_path, text, name="story.md")
    assert article.title == "Port reopens after storm"
    assert "#" not in body_text(result)
    assert "Prices" in body_text(result)  # a section heading stays text, its marks do not
    for start, end in article.spans:
        assert result.text[start:end].strip() == result.text[start:end]


def test_date_with_its_outlet_is_a_date_line_that_starts_the_next_article(tmp_path):
    first = f"First story\nPublished 1 February 2026 · Reuters\n\n{BODY * 2}\n\n{BODY * 2}"
    second = f"Second story\nPublished 2 February 2026 · AFP\n\n{BODY * 2}"
    path = tmp_path / "two.txt"
    path.write_text(f"{first}\n\n{second}\n")
    result = read_file(path, tmp_path)
    assert [(a.title, a.published, a.outlet) for a in result.articles] == [
        ("First story", "2026-02-01", "Reuters"), ("Second story", "2026-02-02", "AFP")]


YEARLESS = "11:21 AM on Tuesday, November 11"


@pytest.mark.parametrize(("mentions", "published"), [
    ("It was the worst storm since 2024, and the port was rebuilt in 2025.", "2025-11-11"),
    ("It was the worst storm since 2024.", None),  # 11 November 2024 was a Monday
    ("It was the worst storm since 2014; the port was rebuilt in 2025.", None),  # both Tuesdays
    ("", None),  # no year in the text at all
])
def test_yearless_date_takes_its_year_only_when_the_text_settles_it(tmp_path, mentions,
                                                                     published):
    result, article = read_text(tmp_path, f"Port reopens\n{YEARLESS}\n\n{BODY} {mentions}\n")
    assert (article.published, article.date_text) == (published, YEARLESS)
    assert YEARLESS not in body_text(result)
    (note,) = [p for p in result.problems if "has no year" in p.reason]
    assert not note.skipped
    assert (f"took {published[:4]}" if published else "left unknown") in note.reason


def test_breadcrumbs_are_furniture_but_headlines_are_not():
    assert is_furniture("News > Politics & Government News")
    assert is_furniture("Short Url")
    assert not is_furniture("Turkish warning")


# -- bad input: reported with its reason, never raised --

def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_empty_file_is_skipped(tmp_path):
    result = read_file(write(tmp_path, "empty.txt", b"  \n\n"), tmp_path)
    assert not result.articles
    assert [(p.source, p.reason, p.skipped) for p in result.problems] == [
        ("empty.txt", "empty file", True)]


def test_binary_file_is_skipped(tmp_path):
    result = read_file(write(tmp_path, "photo.txt", bytes(range(256)) * 4), tmp_path)
    assert not result.articles and "binary" in result.problems[0].reason


def test_non_utf8_is_read_with_fallback_and_reported(tmp_path):
    text = "Arsenal pay £15.8m fee\n\nThe club paid a £15.8m transfer fee on Monday, it said."
    result = read_file(write(tmp_path, "cp.txt", text.encode("cp1252")), tmp_path)
    assert result.text == text and result.articles
    (problem,) = result.problems
    assert not problem.skipped and "not valid UTF-8" in problem.reason and "cp1252" in problem.reason


def test_file_over_size_limit_is_skipped(tmp_path):
    path = write(tmp_path, "big.txt", b"word " * 1000)
    result = read_file(path, tmp_path, max_bytes=1000)
    assert not result.articles and "over the" in result.problems[0].reason


def test_malformed_json_line_reports_line_and_keeps_others(tmp_path):
    lines = [
        json.dumps({"title": "First", "date": "2024-02-01", "source": "Wire",
                    "url": "https://example.org/1", "text": "Body one says a thing."}),
        '{"title": "Broken", "text": ',
        json.dumps({"title": "Third", "date": "5 March 2024", "text": "Body three."}),
    ]
    result = read_file(write(tmp_path, "feed.jsonl", "\n".join(lines).encode()), tmp_path)
    assert [a.title for a in result.articles] == ["First", "Third"]
    assert [a.published for a in result.articles] == ["2024-02-01", "2024-03-05"]
    assert result.articles[0].outlet == "Wire"
    assert result.articles[0].url == "https://example.org/1"
    (problem,) = result.problems
    assert problem.line == 2 and "malformed JSON" in problem.reason and str(problem).startswith(
        "feed.jsonl:2:")
    for article in result.articles:
        for start, end in article.spans:
            assert result.text[start:end].strip() == result.text[start:end]


def test_json_list_of_records(tmp_path):
    records = [{"headline": "A", "body": "Alpha text.", "published_at": "2023-01-02T10:00:00Z"}]
    result = read_file(write(tmp_path, "a.json", json.dumps(records).encode()), tmp_path)
    (article,) = result.articles
    assert (article.title, article.published) == ("A", "2023-01-02")
    assert "Alpha text." in body_text(result)


def test_malformed_json_file(tmp_path):
    result = read_file(write(tmp_path, "bad.json", b'{"title": "x",\n "text": }'), tmp_path)
    assert not result.articles and result.problems[0].line == 2


def test_html_main_text_and_date(tmp_path):
    html = """<html><head><title>Port reopens | Example News</title>
    <meta property="article:published_time" content="2024-05-06"></head><body>
    <nav>Home Search Follow</nav><article><h1>Port reopens after storm</h1>
    <p>The port of Example reopened on Monday after a storm closed it for three days,
    officials said, and the first ships were unloaded by the evening.</p>
    <p>Traders said prices of fresh goods had risen sharply during the closure and were
    expected to fall again within a week as supplies recovered.</p></article>
    <footer>Copyright</footer></body></html>"""
    result = read_file(write(tmp_path, "page.html", html.encode()), tmp_path)
    (article,) = result.articles
    assert article.published == "2024-05-06"
    assert "reopened on Monday" in body_text(result)
    assert "Copyright" not in body_text(result)


def test_bytes_already_read_are_used_instead_of_the_file(tmp_path):
    path = tmp_path / "note.txt"
    path.write_text("On disk\n\nThe text on disk says one thing.\n")
    given = b"Given title\n\nThe bytes the caller read say another.\n"
    result = read_file(path, tmp_path, data=given)
    assert result.text == given.decode() and result.articles[0].title == "Given title"


def test_utf16_is_read_not_called_binary(tmp_path):
    """#11: UTF-16 was called "binary"."""
    path = tmp_path / "wide.txt"
    path.write_bytes("Wide news\n\nThe council met on Monday.".encode("utf-16"))
    result = read_file(path, tmp_path)
    assert result.articles and "council met" in result.text
    assert [str(p) for p in result.problems] == ["wide.txt: read as UTF-16"]


def test_jsonl_line_numbers_count_newlines_only(tmp_path):
    """#11: JSONL line numbers were wrong (splitlines also breaks at U+2028 and friends)."""
    path = tmp_path / "feed.jsonl"
    first = json.dumps({"title": "One", "text": "A line\u2028with a separator."},
                              ensure_ascii=False)
    path.write_text(first + "\n{broken\n", encoding="utf-8")
    result = read_file(path, tmp_path)
    assert [p.line for p in result.problems if p.skipped] == [2]


# -- PDF and DOCX: the extracted text is read like a .txt file, offsets index into it --

STORY = [
    ("The port of Example reopened on Monday after a storm closed it for three days, officials "
     "said, and the first ships were unloaded by the evening as traders waited on the quay."),
    ("Traders said prices of fresh goods had risen sharply during the closure and were expected "
     "to fall again within a week as supplies recovered along the coast road and the railway."),
    ("The harbour master said repairs to the damaged breakwater would take a month, during "
     "which larger vessels would be guided in by tugs in daylight only, to be safe."),
]
TITLE = "Port reopens after storm"


@pytest.fixture(scope="module")
def tokenizer():
    from index.embedder import load_tokenizer

    return load_tokenizer()


def assert_chunks_exact(result, tokenizer):
    from index.chunker import chunk_article

    chunks = [c for a in result.articles
              for c in chunk_article(a, result.text, tokenizer, max_tokens=40, overlap=8)]
    assert len(chunks) > 3
    for chunk in chunks:
        assert result.text[chunk.start:chunk.end] == chunk.text


def test_pdf_text_layer_is_read_like_a_txt_file(tmp_path, tokenizer):
    pages = [["Published 2 February 2026 · Reuters", "By Jane Doe", *STORY[:2]], [STORY[2]]]
    result = read_file(write_pdf(tmp_path / "story.pdf", pages, title=TITLE), tmp_path)
    assert not result.problems
    (article,) = result.articles
    assert metadata(article) == {"title": TITLE, "published": "2026-02-02", "outlet": "Reuters",
                                 "date_text": "Published 2 February 2026", "byline": "Jane Doe"}
    body = body_text(result)
    for paragraph in STORY:  # each one whole: the lines it was wrapped into are joined again
        assert paragraph in body
    assert "Reuters" not in body and "Jane Doe" not in body
    assert f"{STORY[1]}\n\n{STORY[2]}" in result.text  # pages joined by a blank line
    assert_chunks_exact(result, tokenizer)


def test_docx_paragraphs_are_read_like_a_txt_file(tmp_path, tokenizer):
    paragraphs = ["Feb. 2, 2026 5:03 PM ET", "By Jane Doe and John Roe", *STORY]
    result = read_file(write_docx(tmp_path / "story.docx", paragraphs, title=TITLE), tmp_path)
    assert not result.problems
    assert result.text == "\n\n".join([TITLE, *paragraphs])
    (article,) = result.articles
    assert metadata(article) == {"title": TITLE, "published": "2026-02-02",
                                 "date_text": "Feb. 2, 2026 5:03 PM ET",
                                 "byline": "Jane Doe and John Roe"}
    assert body_text(result) == "\n".join([TITLE, "\n\n".join(STORY)])
    assert_chunks_exact(result, tokenizer)


def test_pdf_without_a_text_layer_is_reported_as_a_scan(tmp_path):
    result = read_file(write_scanned_pdf(tmp_path / "scan.pdf"), tmp_path)
    assert not result.articles
    (problem,) = result.problems
    assert problem.skipped and "no text layer" in problem.reason and "OCR" in problem.reason


def test_pdf_locked_by_a_password_is_reported(tmp_path):
    from pypdf import PdfWriter

    plain = write_pdf(tmp_path / "plain.pdf", [STORY], title=TITLE)
    for user_password, name in (("secret", "locked.pdf"), ("", "owner_only.pdf")):
        writer = PdfWriter(clone_from=plain)
        writer.encrypt(user_password, owner_password="owner", algorithm="RC4-128")
        writer.write(tmp_path / name)
    locked = read_file(tmp_path / "locked.pdf", tmp_path)
    assert not locked.articles and "needs a password" in locked.problems[0].reason
    opened = read_file(tmp_path / "owner_only.pdf", tmp_path)  # no password to open it
    assert [a.title for a in opened.articles] == [TITLE]


@pytest.mark.parametrize(("name", "reason"), [
    ("noise.pdf", "damaged or not a PDF"), ("noise.docx", "damaged or not a DOCX")])
def test_corrupt_pdf_or_docx_is_a_problem_not_an_exception(tmp_path, name, reason):
    noise = random.Random(12).randbytes(4096)
    result = read_file(write(tmp_path, name, noise), tmp_path)
    assert not result.articles
    (problem,) = result.problems
    assert problem.skipped and problem.reason.startswith(reason)


def test_truncated_pdf_is_a_problem(tmp_path):
    whole = write_pdf(tmp_path / "whole.pdf", [STORY], title=TITLE).read_bytes()
    result = read_file(write(tmp_path, "cut.pdf", whole[: len(whole) // 2]), tmp_path)
    assert not result.articles and "damaged or not a PDF" in result.problems[0].reason


def test_docx_with_a_password_is_named_as_such(tmp_path):
    compound_file = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)  # what Word writes then
    result = read_file(write(tmp_path, "locked.docx", compound_file), tmp_path)
    assert "password-protected" in result.problems[0].reason


def test_pdf_and_docx_are_collected_from_the_corpus_folder():
    assert {".pdf", ".docx"} <= SUPPORTED


def test_a_date_line_in_the_body_is_text_not_metadata(tmp_path):
    """Review: every date line was dropped, so a timeline's entries could not be cited."""
    path = tmp_path / "timeline.txt"
    text = ("Ceasefire timeline\nPublished 2 February 2026\n\n" + "The talks began in "
            "Doha after months of fighting in the north, with mediators from three countries "
            "and a plan that both sides had rejected twice before the winter offensive.\n\n"
            "20 January 2026 - Ceasefire Announced\n\nThe ceasefire held for a week.\n")
    path.write_text(text, encoding="utf-8")
    result = read_file(path, tmp_path)
    [article] = result.articles
    assert article.published == "2026-02-02" and article.title == "Ceasefire timeline"
    kept = "".join(result.text[a:b] for a, b in article.spans)
    assert "20 January 2026 - Ceasefire Announced" in kept
    assert "Published 2 February 2026" not in kept


def test_a_docx_that_would_unpack_to_gigabytes_is_not_read(tmp_path):
    """Review: python-docx inflates the whole XML in the serving process's memory."""
    import zipfile

    bomb = tmp_path / "bomb.docx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * (40 * 2**20))
    result = read_file(bomb, tmp_path)
    assert not result.articles
    assert any("unpacks to 40 MB" in p.reason for p in result.problems)
