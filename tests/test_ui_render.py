"""The page's pure rendering: answers as Markdown, sources with the quote highlighted at its
exact offsets, article HTML escaped, refusals and errors said plainly."""

from __future__ import annotations

import html
import re

import pytest
from conftest import BUNDLED

from rag.errors import LLMError
from rag.types import Answer, Citation, Timings
from ui import render

FILE = "000_d68abaf6e094f2ff.txt"
TEXT = (BUNDLED / FILE).read_text(encoding="utf-8")
QUOTE = "two American troops and one civilian died"


def citation(marker=1, text=TEXT, quote=QUOTE, **fields) -> Citation:
    start = text.index(quote)
    values = {"marker": marker, "source": FILE, "article_id": "a1", "title": "Syria and US",
              "published": "2025-12-14", "outlet": "Arab News", "quote": quote,
              "start": start, "end": start + len(quote)} | fields
    return Citation(**values)


def panel_of(answer: Answer, file_texts: dict, question: str | None = None) -> str:
    """The Sources panel of a one-answer conversation."""
    return render.conversation_sources_html([render.sources_section(answer, file_texts,
                                                                    question)])


def marked_parts(fragment: str) -> tuple[str, str, str]:
    """(before, marked, after) of an HTML fragment with one <mark>, unescaped."""
    before, rest = fragment.split("<mark>")
    marked, after = rest.split("</mark>")
    return html.unescape(before), html.unescape(marked), html.unescape(after)


def test_highlight_marks_exactly_the_cited_offsets_in_their_context():
    start = TEXT.index(QUOTE)
    before, marked, after = marked_parts(render.highlight_passage(TEXT, start, start + len(QUOTE)))
    assert marked == TEXT[start : start + len(QUOTE)] == QUOTE
    assert TEXT[:start].endswith(before.removeprefix("…")) and before.strip("…")
    assert TEXT[start + len(QUOTE) :].startswith(after.removesuffix("…")) and after.strip("…")


@pytest.mark.parametrize("start", [0, 5, 1000, len(TEXT) - 40])
def test_highlight_is_right_at_any_offset_in_a_real_file(start):
    end = start + 30
    _, marked, _ = marked_parts(render.highlight_passage(TEXT, start, end))
    assert marked == TEXT[start:end]


def test_passage_stops_at_paragraph_edges_when_near():
    text = "Intro line.\nTwo troops died in the attack. More followed.\nNext paragraph."
    start = text.index("Two troops")
    lo, hi = render.passage_bounds(text, start, start + 10, context=100)
    assert text[lo:hi] == "Two troops died in the attack. More followed."


def test_long_paragraph_is_cut_at_word_edges_with_ellipses():
    words = " ".join(f"word{i}" for i in range(400))
    start = words.index("word200")
    fragment = render.highlight_passage(words, start, start + 7, context=60)
    before, marked, after = marked_parts(fragment)
    assert marked == "word200"
    assert before.startswith("…word") and after.endswith("…")
    assert len(before) <= 62 and len(after) <= 62


def test_html_in_article_text_is_escaped_not_rendered():
    text = 'Intro <script>alert("x")</script> then <b>two troops</b> died & more.'
    start = text.index("<b>")
    fragment = render.highlight_passage(text, start, text.index(" died"))
    assert "<script" not in fragment and "<b>" not in fragment
    assert "&lt;script&gt;" in fragment and "<mark>&lt;b&gt;two troops&lt;/b&gt;</mark>" in fragment
    assert "&amp; more" in fragment


def test_sources_panel_shares_numbers_with_markers_and_shows_metadata():
    second = citation(marker=2, quote="Palmyra desert area", title="<i>Second</i>", outlet=None)
    answer = Answer(text="Two died [1]. It was near Palmyra [2].", citations=[second, citation()])
    panel = panel_of(answer, {FILE: TEXT}, question="Who died?")
    assert re.findall(r'class="nq-marker">\[(\d)\]', panel) == ["1", "2"]
    assert re.findall(r'id="nq-source-(\d)"', panel) == ["1", "2"]
    assert "Syria and US" in panel and "Arab News · 2025-12-14 · " + FILE in panel
    assert "&lt;i&gt;Second&lt;/i&gt;" in panel and "<i>" not in panel
    assert f"<mark>{QUOTE}</mark>" in panel and "<mark>Palmyra desert area</mark>" in panel
    assert "Sources (2)" in panel and "“Who died?”" in panel


def test_sources_panel_falls_back_to_the_quote_when_the_file_no_longer_matches():
    answer = Answer(text="Two died [1].", citations=[citation()])
    for texts in ({}, {FILE: "a different file now"}):
        panel = panel_of(answer, texts)
        assert f"<mark>{QUOTE}</mark>" in panel and "showing the quote only" in panel


def test_missing_title_and_date_are_shown_as_such():
    panel = render.citation_html(citation(title=None, published=None), TEXT)
    assert "Untitled article" in panel and "date unknown" in panel and FILE in panel


def test_answer_markdown_keeps_markers_and_markdown_and_escapes_html():
    answer = Answer(text="**Two** troops <img src=x onerror=alert(1)> died [1].")
    shown = render.answer_markdown(answer)
    assert shown == "**Two** troops &lt;img src=x onerror=alert(1)&gt; died [1]."


def test_markers_with_a_source_link_to_its_entry_in_the_panel():
    second = citation(marker=2, quote="Palmyra desert area")
    answer = Answer(text="Two died [1]. Near Palmyra [2][1]. Unknown [9].",
                    citations=[citation(), second])
    shown = render.answer_markdown(answer)
    links = re.findall(r'<a class="nq-cite" href="#([\w-]+)" title="Show source (\d)">'
                       r"\[(\d)\]</a>", shown)
    assert links == [("nq-source-1", "1", "1"), ("nq-source-2", "2", "2"),
                     ("nq-source-1", "1", "1")]
    assert shown.endswith("Unknown [9].")  # no source 9: nothing to link to
    panel_ids = re.findall(r'id="([\w-]+)"', panel_of(answer, {FILE: TEXT}))
    assert {anchor for anchor, *_ in links} == set(panel_ids)
    assert re.sub(r"<[^>]+>", "", shown) == answer.text  # the words read the same


def test_html_in_the_answer_stays_escaped_around_linked_markers():
    text = ('<a href="javascript:alert(1)">[1]</a> died <img src=x onerror=alert(1)> [1] & '
            '<a class="nq-cite" href="#nq-source-1">[1]</a>')
    shown = render.answer_markdown(Answer(text=text, citations=[citation()]))
    assert shown.count("<a ") == shown.count("</a>") == 3  # only our links are markup
    assert "javascript" not in re.sub(r"&lt;.*?&gt;", "", shown)
    assert "&lt;img src=x onerror=alert(1)&gt;" in shown and "&amp;" in shown
    assert html.unescape(re.sub(r"<[^>]+>", "", shown)) == text


def test_every_answer_of_a_conversation_keeps_its_own_sources():
    """#12: only the latest answer's markers led anywhere; earlier ones became plain [n]."""
    first = Answer(text="Two died [1].", citations=[citation()])
    second = Answer(text="It was Sunday [1] [2].", citations=[citation(), citation(marker=2)])
    bubbles = [render.answer_markdown(first, turn=1), render.answer_markdown(second, turn=2)]
    assert re.findall(r'href="#([\w-]+)"', bubbles[0]) == ["nq-source-1-1"]
    assert re.findall(r'href="#([\w-]+)"', bubbles[1]) == ["nq-source-2-1", "nq-source-2-2"]
    # each bubble carries its sources (shown there on a narrow screen, and copied with it)
    assert re.findall(r'<li id="([\w-]+)"', bubbles[1]) == ["nq-b-2-1", "nq-b-2-2"]
    assert "<mark>" in bubbles[0] and FILE in bubbles[0]
    sections = [render.sources_section(a, {FILE: TEXT}, q, turn)
                for turn, (a, q) in enumerate([(first, "Who?"), (second, "When?")], start=1)]
    panel = render.conversation_sources_html(sections)
    ids = re.findall(r'id="(nq-[\w-]+)"', panel)
    assert ids == ["nq-turn-2", "nq-source-2-1", "nq-source-2-2", "nq-turn-1", "nq-source-1-1"]
    assert [m.group(1) for m in render.LINKED_MARKER.finditer(bubbles[1])] == ["[1]", "[2]"]


@pytest.mark.parametrize("text", [
    "The articles don't say.",
    "The articles don't say who fired first.",
    "No passage mentions who fired first.",
])
def test_refused_answer_says_the_articles_dont_say_once(text):
    shown = render.answer_markdown(Answer(text=text, refused=True))
    assert shown.startswith("**The articles don't say.**")
    assert shown.lower().count("articles don't say") == 1
    assert "who fired first" in shown or text == "The articles don't say."


def test_refused_answer_offers_the_closest_passages():
    answer = Answer(text="The articles don't say.", refused=True, citations=[citation()])
    panel = panel_of(answer, {FILE: TEXT})
    assert "Closest passages" in panel and "do not answer the question" in panel
    assert f"<mark>{QUOTE}</mark>" in panel


def test_unsupported_sentences_are_flagged():
    answer = Answer(text="Nine died [1].", unsupported=["Nine died [1]."], citations=[citation()])
    assert "not found in the cited passages: “Nine died [1].”" in render.answer_markdown(answer)


def test_timing_and_backend_in_the_panel():
    answer = Answer(text="x [1]", citations=[citation()], backend="openai:gpt-4o-mini",
                    timings=Timings(retrieval_ms=40.2, generation_ms=800.4))
    assert "openai:gpt-4o-mini · 841 ms" in panel_of(answer, {})


def test_error_and_status_lines():
    assert render.error_markdown(LLMError("the LLM at <http://x> refused")) == (
        "**Could not answer:** the LLM at &lt;http://x&gt; refused")
    status = {"backend": "extractive", "articles": 6, "chunks": 41, "newest": "2026-01-10"}
    assert render.status_markdown(status) == (
        "Backend: **extractive** · 6 articles · 41 chunks · newest article 2026-01-10")
    assert "newest article undated" in render.status_markdown(status | {"newest": None})


def test_a_date_without_a_year_is_shown_as_written_and_flagged():
    undated = citation(published=None, date_text="11:21 AM on Tuesday, November 11")
    panel = render.citation_html(undated, TEXT)
    assert "11:21 AM on Tuesday, November 11 (year not given)" in panel
