"""The page in a real headless browser (Debian's chromium via Playwright), on the real
engine over the bundled index: ask, watch the answer stream in, see the highlighted quote."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import ROOT
from ui_fakes import served

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts"
# Everything that would make chromium call home is off; the page is on loopback.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ASSAD = "When was Assad's government overthrown?"
TURKEY = "What did Turkey's foreign minister say about Aleppo?"


@pytest.fixture(scope="module")
def browser():
    executable = CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")
    if not executable:
        pytest.fail("the browser test needs Debian's chromium: run `apt-get install chromium` "
                    "(as root; `make test` tries this itself)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page_url(bundled_index):
    from rag.ask import Engine

    with served(Engine(bundled_index), bundled_index) as url:
        yield url


@pytest.fixture
def page(browser, page_url):
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    tab = context.new_page()
    tab.goto(page_url)
    yield tab
    context.close()


def ask(page, question: str) -> None:
    from playwright.sync_api import expect

    # The page's load events (status, the reopened conversation) come first, as for a user.
    expect(page.locator("#nq-status")).to_contain_text("Backend", timeout=20_000)
    box = page.locator("#nq-question textarea")
    box.fill(question)
    box.press("Enter")


def screenshot(page, name: str) -> None:
    """Once the page is idle (Gradio fades outputs while an event runs)."""
    from playwright.sync_api import expect

    expect(page.locator(".generating")).to_have_count(0, timeout=20_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / name, full_page=True)


def last_answer(page):
    return page.locator("#nq-chat .message-row.bot-row").last


def test_question_streams_an_answer_and_the_sources_highlight_the_quote(page):
    from playwright.sync_api import expect

    expect(page.locator("#nq-status")).to_contain_text("Backend: extractive", timeout=20_000)
    expect(page.locator("#nq-status")).to_contain_text("articles")
    ask(page, ASSAD)
    expect(last_answer(page)).to_contain_text("[1]", timeout=20_000)
    expect(last_answer(page)).to_contain_text("December 2024")
    quote = page.locator("#nq-sources .nq-source mark").first
    expect(quote).to_contain_text("December 2024")
    expect(page.locator("#nq-sources .nq-marker").first).to_have_text("[1]")
    expect(page.locator("#nq-sources .nq-meta").first).to_contain_text(".txt")
    screenshot(page, "ui-answer.png")


def test_a_marker_of_an_earlier_answer_shows_that_answers_source_and_copy_gives_text(page):
    """#12: only the latest answer's markers led to a source; and a copied answer lost its
    sources."""
    from playwright.sync_api import expect

    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    ask(page, TURKEY)
    expect(last_answer(page).locator("a.nq-cite")).not_to_have_count(0, timeout=20_000)
    ask(page, "When did he say it?")
    expect(page.locator("#nq-sources .nq-question").first).to_contain_text(
        "When did he say it?", timeout=20_000)
    first_answer = page.locator("#nq-chat .message-row.bot-row").first
    marker = first_answer.locator("a.nq-cite").first
    number = marker.inner_text().strip("[]")
    entry = page.locator(f"#nq-sources #nq-source-1-{number}")
    page.locator("#nq-sources").evaluate("panel => panel.scrollTo(0, 0)")
    marker.click()
    expect(page).to_have_url(re.compile(f"#nq-source-1-{number}$"))
    assert entry.evaluate("el => el.matches(':target')")
    expect(entry).to_be_in_viewport()
    assert within_panel(entry), "the Sources panel did not scroll to the entry"
    expect(entry.locator("mark")).to_be_visible()
    screenshot(page, "ui-marker-clicked.png")
    # The last message is the answer; its copy button sits below its bubble.
    page.locator("#nq-chat").get_by_role("button", name="Copy message").last.click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "[1]" in copied and "<a" not in copied and "<details" not in copied
    assert "Sources:\n[1] " in copied and "“" in copied


def within_panel(entry) -> bool:
    """Is the entry's top inside the scrolled Sources panel's visible box?"""
    return entry.evaluate("""el => {
        const panel = document.querySelector('#nq-sources').getBoundingClientRect();
        const box = el.getBoundingClientRect();
        return box.top >= panel.top - 1 && box.top < panel.bottom;
    }""")


def test_follow_up_refusal_and_clear_in_the_browser(page):
    from playwright.sync_api import expect

    ask(page, TURKEY)
    expect(page.locator("#nq-sources .nq-question").first).to_contain_text(TURKEY, timeout=20_000)
    expect(page.locator("#nq-sources mark").first).to_be_visible()
    ask(page, "When did he say it?")
    expect(page.locator("#nq-sources .nq-question").first).to_contain_text("When did he say it?",
                                                                      timeout=20_000)
    expect(page.locator("#nq-sources mark", has_text="Thursday").first).to_be_visible()
    page.locator("#nq-question textarea").fill("What was the name of the gunman's mother?")
    page.locator("#nq-ask-button").click()
    expect(last_answer(page)).to_contain_text("The articles don't say", timeout=20_000)
    expect(page.locator("#nq-sources")).to_contain_text("Closest passages")
    screenshot(page, "ui-follow-up-refused.png")
    page.locator("#nq-clear").click()
    expect(page.locator("#nq-chat .message-row")).to_have_count(0)
    expect(page.locator("#nq-sources")).to_contain_text("Ask a question")


class Canary:
    """An HTTP server on another loopback port that records every request it gets: any
    request is the page fetching from an origin other than its own."""

    def __init__(self) -> None:
        import http.server
        import threading

        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append((self.path, self.headers.get("Referer")))
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_the_page_fetches_nothing_from_another_origin(browser, settings):
    """Markdown and HTML images in a reply, in article text and in the question were
    fetched by every viewer's browser (with the question in the address, and a Referer)."""
    from conftest import BUNDLED
    from playwright.sync_api import expect
    from ui_fakes import FakeEngine

    canary = Canary()
    leak = f"{canary.url}/leak"

    class ImageEngine(FakeEngine):  # a backend whose reply and quote carry images
        def _answer(self, query):
            answer = super()._answer(query)
            images = f"![chart]({leak}?reply) <img src=\"{leak}?html\"> ![ref][r]\n\n[r]: {leak}?ref"
            return answer.model_copy(update={"text": f"{images} {answer.text}"})

    try:
        with served(ImageEngine(BUNDLED), settings) as url:
            context = browser.new_context()
            tab = context.new_page()
            response = tab.goto(url)
            policy = response.headers["content-security-policy"]
            assert "img-src 'self' data: blob:" in policy and "connect-src 'self'" in policy
            assert response.headers["referrer-policy"] == "no-referrer"
            ask(tab, f"What did Turkey's foreign minister say? ![q]({leak}?question) "
                     f"<img src=\"{leak}?question-html\">")
            expect(last_answer(tab)).to_contain_text("[1]", timeout=20_000)
            expect(last_answer(tab)).to_contain_text("![chart]")  # shown as text
            expect(tab.locator("#nq-chat img[src*='leak']")).to_have_count(0)
            # Even markup that got into the page some other way may not fetch:
            tab.evaluate(f"document.body.insertAdjacentHTML('beforeend', '<img src=\"{leak}?injected\">')")
            blocked = tab.evaluate(f"fetch('{leak}?fetch').then(() => 'fetched', () => 'blocked')")
            assert blocked == "blocked"
            tab.wait_for_timeout(500)
            context.close()
    finally:
        canary.close()
    assert canary.hits == []


@pytest.fixture
def library_page(browser, tmp_path, corpus):
    """The page on the real engine over a private corpus copy that the test may change."""
    from conftest import make_settings

    from index.ingest import ingest
    from rag.ask import Engine

    settings = make_settings(tmp_path, corpus_dir=corpus)
    ingest(settings, progress=False)
    with served(Engine(settings), settings) as url:
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        tab = context.new_page()
        tab.goto(url)
        yield tab
        context.close()


def test_uploaded_pdf_and_docx_are_answered_and_a_deleted_article_is_gone(library_page,
                                                                          tmp_path):
    """#12: upload a PDF and a DOCX in the Library tab, ask about each and see the right
    passage highlighted; delete one, and its answers go with it."""
    from document_files import write_docx, write_pdf
    from playwright.sync_api import expect

    page = library_page
    pdf = write_pdf(tmp_path / "harbour.pdf", [[
        ("The harbour of Mombasa reopened on Tuesday after dredging work that lasted "
         "eleven weeks, the port authority said."),
        "Shipping lines said the first container vessel would berth on Wednesday."]],
        title="Mombasa harbour reopens")
    docx = write_docx(tmp_path / "bridge.docx", [
        ("The new bridge over the Zambezi was opened by the transport minister on Friday, "
         "four years after construction began."),
        "It carries two lanes of road traffic and a railway line."],
        title="Zambezi bridge opens")
    page.get_by_role("tab", name="Library").click()
    expect(page.locator("#nq-library")).to_contain_text("004_94450483d03d6010.txt",
                                                        timeout=20_000)
    page.locator("#nq-upload input[type=file]").set_input_files([str(pdf), str(docx)])
    expect(page.locator("#nq-problems")).to_contain_text("bridge.docx", timeout=60_000)
    expect(page.locator("#nq-library")).to_contain_text("Mombasa harbour reopens")
    expect(page.locator("#nq-library")).to_contain_text("Zambezi bridge opens")
    expect(page.locator("#nq-status")).to_contain_text("8 articles")
    screenshot(page, "ui-library.png")

    page.get_by_role("tab", name="Chat").click()
    # The chat's file filter offers the new files at once, without a reload.
    page.locator("#nq-filters").get_by_text("Filters").click()
    page.locator("#nq-filter-files input").fill("bridge")
    expect(page.get_by_role("option", name="bridge.docx")).to_be_visible(timeout=10_000)
    page.locator("#nq-filter-files input").fill("")
    page.keyboard.press("Escape")
    ask(page, "When did the harbour of Mombasa reopen?")
    expect(page.locator("#nq-sources mark").first).to_contain_text("Tuesday", timeout=20_000)
    expect(page.locator("#nq-sources .nq-meta").first).to_contain_text("harbour.pdf")
    ask(page, "Who opened the bridge over the Zambezi?")
    expect(page.locator("#nq-sources .nq-question").first).to_contain_text("Zambezi",
                                                                      timeout=20_000)
    expect(page.locator("#nq-sources mark").first).to_contain_text("transport minister")
    expect(page.locator("#nq-sources .nq-meta").first).to_contain_text("bridge.docx")

    page.get_by_role("tab", name="Library").click()
    page.locator("#nq-chosen input").fill("harbour.pdf")
    page.get_by_role("option", name="harbour.pdf").click()
    page.locator("#nq-delete").click()
    expect(page.locator("#nq-status")).to_contain_text("7 articles", timeout=30_000)
    expect(page.locator("#nq-library")).not_to_contain_text("harbour.pdf")
    page.get_by_role("tab", name="Chat").click()
    ask(page, "When did the harbour of Mombasa reopen after dredging?")
    expect(page.locator("#nq-sources .nq-question").first).to_contain_text("dredging",
                                                                      timeout=20_000)
    newest = page.locator("#nq-sources .nq-turn").first  # earlier turns keep theirs
    expect(newest).not_to_contain_text("harbour.pdf")


def test_on_a_phone_each_answer_shows_its_sources_under_it(browser, page_url):
    """#12 at 390x844: the sources sat about 1,100 px below the answer, a long answer
    scrolled inside a fixed box, and Ask and Clear took a row each."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True)
    phone = context.new_page()
    phone.goto(page_url)
    expect(phone.locator("#nq-status")).to_contain_text("Backend", timeout=20_000)
    box = phone.get_by_label("Question")  # labelled for screen readers
    box.fill(ASSAD)
    box.press("Enter")
    answer = last_answer(phone)
    first_source = answer.locator(".nq-bubble-sources li").first
    expect(first_source).to_contain_text("December 2024", timeout=20_000)
    expect(phone.locator("#nq-sources")).to_be_hidden()
    ask_button, clear = phone.locator("#nq-ask-button"), phone.locator("#nq-clear")
    assert abs(ask_button.bounding_box()["y"] - clear.bounding_box()["y"]) < 2  # one row
    gap = first_source.bounding_box()["y"] - answer.bounding_box()["y"]
    assert 0 < gap < 844, f"the first source is {gap:.0f} px below its answer"
    scrolling = phone.evaluate("""() => [...document.querySelectorAll('#nq-chat *')]
        .filter(el => el.scrollHeight > el.clientHeight + 1
                && ['auto', 'scroll'].includes(getComputedStyle(el).overflowY)).length""")
    assert scrolling == 0, "the chat scrolls inside a box of its own"
    answer.locator(".nq-bubble-sources summary").click()  # folded away
    expect(first_source).to_be_hidden()
    screenshot(phone, "ui-phone.png")
    context.close()


CONTRAST = """selector => {
    const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
    const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255;
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
        .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
    const background = (el) => { for (; el; el = el.parentElement) {
        const c = getComputedStyle(el).backgroundColor;
        if (c && !c.endsWith(', 0)') && c !== 'transparent') return c; }
        return 'rgb(255, 255, 255)'; };
    return [...document.querySelectorAll(selector)].map(el => {
        const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(rgb(background(el)))];
        return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); });
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_secondary_text_and_citation_pills_are_readable(browser, page_url, scheme):
    """#12: grey meta text had 2.56:1 contrast and the pills 3.99:1; the refusal box stayed
    light in dark mode. WCAG AA asks 4.5:1."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    tab = context.new_page()
    tab.goto(f"{page_url}?__theme={scheme}")
    ask(tab, TURKEY)
    expect(last_answer(tab).locator("a.nq-cite")).not_to_have_count(0, timeout=20_000)
    ask(tab, "What was the name of the gunman's mother?")
    expect(tab.locator("#nq-sources .nq-refused")).to_be_visible(timeout=20_000)
    for selector in ("#nq-status", "#nq-title p", ".nq-meta", ".nq-timing", "a.nq-cite",
                     ".nq-refused"):
        ratios = tab.evaluate(CONTRAST, selector)
        assert ratios and min(ratios) >= 4.5, (selector, ratios)
    context.close()


def test_a_conversation_survives_a_reload_and_exports_with_its_sources(browser, tmp_path,
                                                                        bundled_index):
    """#12: history was lost on reload and there was no export."""
    import json

    from playwright.sync_api import expect

    from rag.ask import Engine

    settings = bundled_index.model_copy(update={"store_dir": tmp_path / "store"})
    with served(Engine(bundled_index), settings) as url:
        context = browser.new_context(viewport={"width": 1440, "height": 1000},
                                      accept_downloads=True)
        tab = context.new_page()
        tab.goto(url)
        ask(tab, TURKEY)
        expect(last_answer(tab).locator("a.nq-cite")).not_to_have_count(0, timeout=20_000)
        ask(tab, "When did he say it?")
        expect(tab.locator("#nq-chat .message-row.bot-row")).to_have_count(2, timeout=20_000)
        expect(last_answer(tab).locator("a.nq-cite")).not_to_have_count(0, timeout=20_000)
        tab.wait_for_timeout(500)  # the turn is stored right after it is shown
        tab.reload()
        expect(tab.locator("#nq-chat .message-row.bot-row")).to_have_count(2, timeout=20_000)
        expect(tab.locator("#nq-sources .nq-question").first).to_contain_text(
            "When did he say it?")
        marker = tab.locator("#nq-chat .message-row.bot-row").first.locator("a.nq-cite").first
        marker.click()  # an earlier answer's marker still finds its source after the reload
        expect(tab).to_have_url(re.compile(r"#nq-source-1-\d+$"))

        tab.locator("#nq-conversations").get_by_text("Conversations").click()
        with tab.expect_download() as download:
            tab.locator("#nq-export-json").click()
            tab.locator("#nq-exported a").first.click(timeout=20_000)
        exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
        turns = exported["turns"]
        assert [t["question"] for t in turns] == [TURKEY, "When did he say it?"]
        for turn in turns:
            assert turn["answer"]["citations"]
            for citation in turn["answer"]["citations"]:
                text = (bundled_index.corpus_dir / citation["source"]).read_text(
                    encoding="utf-8")
                assert text[citation["start"]:citation["end"]] == citation["quote"]

        tab.locator("#nq-new").click()
        expect(tab.locator("#nq-chat .message-row")).to_have_count(0)
        ask(tab, ASSAD)
        expect(last_answer(tab)).to_contain_text("December 2024", timeout=20_000)
        tab.wait_for_timeout(500)
        tab.locator("#nq-past input").click()
        options = tab.get_by_role("option")
        expect(options).to_have_count(2)
        options.filter(has_text=TURKEY[:30]).click()  # the first conversation, reopened
        expect(tab.locator("#nq-chat .message-row.bot-row")).to_have_count(2, timeout=20_000)
        expect(tab.locator("#nq-chat")).to_contain_text("Hakan Fidan")
        screenshot(tab, "ui-conversations.png")
        context.close()
