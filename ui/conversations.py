"""Conversations that last: every turn is stored (ui.history) under its owner, the
logged-in user or else a random key this browser keeps in localStorage, so the open
conversation comes back after a reload; past ones can be reopened, renamed, deleted and
exported to Markdown or JSON with every answer's sources.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr

from rag.config import Settings
from rag.errors import NewsqaError
from rag.types import Answer
from ui import render
from ui.history import ConversationStore, Turn, to_json, to_markdown

log = logging.getLogger(__name__)

STORAGE_KEY = "newsqa-conversations"
EXPORTS = Path(tempfile.gettempdir()) / "newsqa-exports"  # where gradio may serve files from


@dataclass
class Conversation:
    """One browser session's chat (held in gr.State, so every visitor has their own):
    the messages the Chatbot shows, the (question, answer) turns, each answer's part of
    the Sources panel, and where it is stored."""

    messages: list[dict] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)  # each answer's Sources panel part
    turns: list[Turn] = field(default_factory=list)
    id: str | None = None  # in the ConversationStore, once its first turn is saved
    saved: int = 0  # turns stored so far

    @property
    def history(self) -> list[tuple[str, str]]:
        """The turns as the engine sees them: each question and its answer's text."""
        return [(question, answer.text) for question, answer in self.turns]


def message(role: str, content: str) -> dict:
    return {"role": role, "content": content}


def replay(turns: list[Turn], file_texts: Callable[[Answer], dict], conversation_id: str
           ) -> Conversation:
    """A stored conversation as the page shows it."""
    convo = Conversation(id=conversation_id, saved=len(turns))
    for turn, (question, answer) in enumerate(turns, start=1):
        convo.messages += [message("user", render.user_markdown(question)),
                           message("assistant", render.answer_markdown(answer, turn, question))]
        convo.sections.append(render.sources_section(answer, file_texts(answer), question,
                                                     turn))
        convo.turns.append((question, answer))
    return convo


def browser_state(settings: Settings) -> gr.BrowserState:
    """This browser's owner key and open conversation, in its localStorage. The owner key
    is a random bearer token: whoever holds it sees that browser's conversations (with a
    login, the user name is the owner instead). Gradio encrypts the value in the browser
    with `secret`, which the page itself carries, so it protects nothing; it only has to
    outlive a restart of the server, or every browser would lose its conversations."""
    secret = hashlib.sha256(f"newsqa:{Path(settings.store_dir).resolve()}".encode()
                            ).hexdigest()[:32]
    return gr.BrowserState({"owner": None, "current": None}, storage_key=STORAGE_KEY,
                           secret=secret)


class Conversations:
    """The Conversations panel's behaviour, given the page's parts."""

    def __init__(self, settings: Settings, file_texts: Callable[[Answer], dict]) -> None:
        self.store = ConversationStore.for_settings(settings)
        self.file_texts = file_texts

    @staticmethod
    def owner(browser: dict | None, request: gr.Request | None) -> tuple[dict, str]:
        """(browser state, owner): the login name, or the browser's own random key."""
        browser = dict(browser or {})
        if not browser.get("owner"):
            browser["owner"] = uuid.uuid4().hex
        user = getattr(request, "username", None)
        return browser, f"user:{user}" if user else f"browser:{browser['owner']}"

    def choices(self, owner: str) -> list[tuple[str, str]]:
        return [(f"{c.title} · {c.updated:%Y-%m-%d %H:%M} · "
                 + render.plural(c.turns, "question"), c.id)
                for c in self.store.list(owner)]

    def open(self, owner: str, conversation_id: str | None) -> Conversation:
        if not conversation_id:
            return Conversation()
        return replay(self.store.turns(owner, conversation_id), self.file_texts,
                      conversation_id)

    def save(self, owner: str, convo: Conversation) -> Conversation:
        """Stores the turns not stored yet (a conversation is created at its first)."""
        if convo.saved == len(convo.turns):
            return convo
        if convo.id is None:
            convo.id = self.store.create(owner)
        for question, answer in convo.turns[convo.saved:]:
            self.store.add_turn(owner, convo.id, question, answer)
        convo.saved = len(convo.turns)
        return convo

    def export(self, owner: str, convo: Conversation, kind: str) -> str:
        """A file of the conversation (Markdown or JSON), for the page to offer."""
        title = (self.store.summary(owner, convo.id).title if convo.id
                 else "Conversation")
        text = to_markdown(title, convo.turns) if kind == "md" else to_json(title, convo.turns)
        folder = EXPORTS / uuid.uuid4().hex[:12]  # one folder per export: names may repeat
        folder.mkdir(parents=True)
        for old in EXPORTS.iterdir():  # exports are downloaded at once: keep the last hour's
            if old != folder and old.stat().st_mtime < time.time() - 3600:
                shutil.rmtree(old, ignore_errors=True)
        name = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in title)[:60]
        path = folder / f"{name.strip('-') or 'conversation'}.{kind}"
        path.write_text(text, encoding="utf-8")
        return str(path)


class ConversationsPanel:
    """The Conversations accordion: `build()` places its components (inside the page's
    layout), `wire()` connects them once the chat they change exists."""

    def __init__(self, conversations: Conversations) -> None:
        self.conversations = conversations

    def build(self) -> None:
        with gr.Accordion("Conversations", open=False, elem_id="nq-conversations"):
            with gr.Row(equal_height=True):
                self.past = gr.Dropdown(label="Past conversations", choices=[],
                                        elem_id="nq-past", scale=4)
                self.new_button = gr.Button("New", elem_id="nq-new", scale=1)
            with gr.Row(equal_height=True):
                self.title = gr.Textbox(label="Rename to", elem_id="nq-rename-title", scale=4)
                self.rename_button = gr.Button("Rename", elem_id="nq-rename", scale=1)
                self.delete_button = gr.Button("Delete", variant="stop", elem_id="nq-forget",
                                               scale=1)
            with gr.Row():
                self.markdown_button = gr.Button("Export Markdown", elem_id="nq-export-md")
                self.json_button = gr.Button("Export JSON", elem_id="nq-export-json")
            self.exported = gr.File(label="Exported conversation", interactive=False,
                                    elem_id="nq-exported")
            self.notice = gr.Markdown(elem_id="nq-conversations-notice")

    def wire(self, app: gr.Blocks, conversation: gr.State, browser: gr.BrowserState,
             chat: gr.Chatbot, sources: gr.HTML, answered: list, cleared: list) -> None:
        """`answered`: the question's events (each answer is stored once shown);
        `cleared`: the events that start the chat afresh."""
        panel, conversations = self, self.conversations
        past, notice = self.past, self.notice

        def listed(owner: str, current: str | None):
            return gr.update(choices=conversations.choices(owner), value=current)

        def shown(convo: Conversation, browser_value: dict, owner: str):
            browser_value = browser_value | {"current": convo.id}
            panel = render.conversation_sources_html(convo.sections)
            return convo.messages, convo, panel, browser_value, listed(owner, convo.id), ""

        outputs = [chat, conversation, sources, browser, past, notice]

        def guarded(action):
            """Runs a panel action; a problem becomes the panel's notice, the page stays up.
            (wraps: gradio reads the action's signature to pass it the request.)"""
            @functools.wraps(action)
            def run(*args):
                try:
                    return action(*args)
                except NewsqaError as error:
                    return (*[gr.skip()] * 5, f"**Not done:** {render.inert(str(error))}")
            return run

        def restore(browser_value, current: Conversation, request: gr.Request):
            browser_value, owner = conversations.owner(browser_value, request)
            if current.messages:  # asked before the page finished loading: keep that
                return (*[gr.skip()] * 3, browser_value, listed(owner, current.id), "")
            try:
                convo = conversations.open(owner, browser_value.get("current"))
            except NewsqaError as error:  # deleted elsewhere, or the file was moved aside
                log.info("the open conversation could not be reopened: %s", error)
                convo = Conversation()
            return shown(convo, browser_value, owner)

        def remember(convo: Conversation, browser_value, request: gr.Request):
            browser_value, owner = conversations.owner(browser_value, request)
            convo = conversations.save(owner, convo)
            return convo, browser_value | {"current": convo.id}, listed(owner, convo.id)

        def reopen(chosen, browser_value, request: gr.Request):
            browser_value, owner = conversations.owner(browser_value, request)
            if not chosen or chosen == browser_value.get("current"):
                return (*[gr.skip()] * 6,)
            return shown(conversations.open(owner, chosen), browser_value, owner)

        def start_new(browser_value, request: gr.Request):
            browser_value, owner = conversations.owner(browser_value, request)
            return shown(Conversation(), browser_value, owner)

        def rename(new_title, convo: Conversation, browser_value, request: gr.Request):
            browser_value, owner = conversations.owner(browser_value, request)
            if convo.id is None:
                return (*[gr.skip()] * 5, "**Not done:** ask a question first; then name it.")
            conversations.store.rename(owner, convo.id, new_title or "")
            return (*[gr.skip()] * 4, listed(owner, convo.id), "Renamed.")

        def forget(convo: Conversation, browser_value, request: gr.Request):
            browser_value, owner = conversations.owner(browser_value, request)
            if convo.id is not None:
                conversations.store.delete(owner, convo.id)
            return shown(Conversation(), browser_value, owner)

        def exporter(kind: str):
            def export(convo: Conversation, browser_value, request: gr.Request):
                _, owner = conversations.owner(browser_value, request)
                if not convo.turns:
                    return None, "**Not done:** nothing to export yet."
                return conversations.export(owner, convo, kind), ""
            return export

        def forget_current(browser_value):
            return (browser_value or {}) | {"current": None}

        private = {"api_visibility": "private"}
        app.load(restore, inputs=[browser, conversation], outputs=outputs, **private)
        for event in answered:
            event.then(remember, inputs=[conversation, browser],
                       outputs=[conversation, browser, past], **private)
        for event in cleared:
            event.then(forget_current, inputs=[browser], outputs=[browser], **private)
        past.input(guarded(reopen), inputs=[past, browser], outputs=outputs, **private)
        panel.new_button.click(start_new, inputs=[browser], outputs=outputs, **private)
        panel.rename_button.click(guarded(rename), inputs=[panel.title, conversation, browser],
                                  outputs=outputs, **private)
        panel.delete_button.click(guarded(forget), inputs=[conversation, browser],
                                  outputs=outputs, **private)
        panel.markdown_button.click(exporter("md"), inputs=[conversation, browser],
                                    outputs=[panel.exported, notice], **private)
        panel.json_button.click(exporter("json"), inputs=[conversation, browser],
                                outputs=[panel.exported, notice], **private)
