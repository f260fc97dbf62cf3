"""The Library tab: the indexed articles as a table, and the changes the page can make to
the corpus folder (index.library): add files by upload or URL, delete one, read one again.
The serving process ingests each change itself; the chat follows it within a second.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from index.library import Change, Library
from index.reader import SUPPORTED
from rag.config import Settings, is_loopback
from rag.errors import NewsqaError
from ui import render

log = logging.getLogger(__name__)

COLUMNS = ["Title", "Date", "Outlet", "Author", "File", "Chunks"]
COLUMN_WIDTHS = ["34%", "14%", "12%", "12%", "20%", "8%"]
READ_ONLY = ("this page is served beyond 127.0.0.1 without a login, so it does not change "
             "the library: set NEWSQA_UI_USER and NEWSQA_UI_PASSWORD to allow it")
# A handler whose default is a gr.Progress gets a progress bar; gradio makes a fresh one per
# call from it, and track_tqdm shows the ingest's own tqdm bar there.
INGEST_PROGRESS = gr.Progress(track_tqdm=True)


def library_tab(settings: Settings, engine_of: Callable, status: gr.Markdown,
                status_line: Callable[[], str], app: gr.Blocks,
                file_filter: gr.Dropdown) -> None:
    """Builds the tab's components inside the current gr.Tab, and wires their events;
    `status` is the page's status line, refreshed with `status_line()` after a change, and
    `file_filter` the chat's choice of files, which follows the list."""
    local = is_loopback(settings.ui_host)
    library = Library(settings, progress=True, local=local)  # tqdm bars: gr.Progress shows them
    # Changing the corpus is for this machine's user, or for those who logged in.
    writable = local or bool(settings.ui_user and settings.ui_password)
    formats = " ".join(sorted(SUPPORTED))
    summary = gr.Markdown(elem_id="nq-library-summary")
    with gr.Row(equal_height=False):
        upload = gr.File(label=f"Add articles ({formats})", file_count="multiple",
                         file_types=sorted(SUPPORTED), type="filepath", elem_id="nq-upload")
        with gr.Column():
            url = gr.Textbox(label="Import a web page by URL", placeholder="https://…",
                             elem_id="nq-url")
            import_button = gr.Button("Import", elem_id="nq-import")
    table = gr.Dataframe(headers=COLUMNS, value=[], interactive=False, wrap=True,
                         column_widths=COLUMN_WIDTHS, elem_id="nq-library",
                         label="Indexed articles")
    with gr.Row(equal_height=True):
        chosen = gr.Dropdown(label="Article file", choices=[], elem_id="nq-chosen", scale=4)
        reread_button = gr.Button("Read again", elem_id="nq-reread", scale=1)
        delete_button = gr.Button("Delete", variant="stop", elem_id="nq-delete", scale=1)
    problems = gr.Markdown(elem_id="nq-problems")

    outputs = [summary, table, chosen, file_filter, problems, status]

    def shown(changes: list[Change], errors: list[str]):
        """Every output after a change: the fresh list, and what the change reported."""
        rows, files, summary_text = listing(engine_of)
        report = render.changes_markdown([(c.source, c.report) for c in changes], errors)
        return (summary_text, rows, gr.update(choices=files, value=None),
                gr.update(choices=files), report, status_line())

    def run(action: Callable[[], Change]) -> tuple[list[Change], list[str]]:
        if not writable:
            return [], [READ_ONLY]
        try:
            return [action()], []
        except NewsqaError as error:
            return [], [str(error)]
        except Exception as error:  # a bug: logged, and the page stays up
            log.exception("a library change failed")
            return [], [(f"something went wrong inside newsqa ({type(error).__name__}); the "
                         "details are in the server log")]

    def on_upload(paths: list[str] | None, progress=INGEST_PROGRESS):
        changes, errors = [], []
        for path in paths or []:
            done, failed = run(lambda p=Path(path): library.add(p.name, p.read_bytes()))
            changes += done
            errors += [f"{Path(path).name}: {e}" for e in failed]
        return (*shown(changes, errors), None)

    def on_import(address: str, progress=INGEST_PROGRESS):
        if not (address or "").strip():
            return (*shown([], ["give the address of a web page, e.g. https://…"]), address)
        changes, errors = run(lambda: library.add_url(address.strip()))
        return (*shown(changes, errors), "" if changes else address)

    def on_delete(source: str | None):
        if not source:
            return shown([], ["choose an article file first"])
        return shown(*run(lambda: library.delete(source)))

    def on_reread(source: str | None, progress=INGEST_PROGRESS):
        if not source:
            return shown([], ["choose an article file first"])
        return shown(*run(lambda: library.reread(source)))

    upload.upload(on_upload, inputs=[upload], outputs=[*outputs, upload],
                  api_name="library_upload")
    import_button.click(on_import, inputs=[url], outputs=[*outputs, url],
                        api_name="library_import")
    url.submit(on_import, inputs=[url], outputs=[*outputs, url], api_visibility="private")
    delete_button.click(on_delete, inputs=[chosen], outputs=outputs, api_name="library_delete")
    reread_button.click(on_reread, inputs=[chosen], outputs=outputs, api_name="library_reread")
    app.load(lambda: shown([], [])[:4], outputs=outputs[:4], api_visibility="private")


def listing(engine_of: Callable) -> tuple[list[list], list[str], str]:
    """(table rows, the files in it, a one-line summary), or an empty table and why."""
    try:
        articles = engine_of().articles()
    except NewsqaError as error:
        return [], [], render.status_error_markdown(error)
    rows = render.library_rows(articles)
    files = sorted({a["source"] for a in articles})
    return rows, files, render.library_summary(articles)

