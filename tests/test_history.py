"""ui/history.py: conversations kept in a real SQLite file in tmp_path, and their exports."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rag.config import Settings
from rag.errors import NewsqaError
from rag.types import Answer, Citation, ShortAnswer
from ui.history import (
    FILE_NAME,
    SCHEMA_VERSION,
    UNTITLED,
    ConversationStore,
    HistoryError,
    default_title,
    store_path,
    to_json,
    to_markdown,
)


class Clock:
    """A clock that moves one second per reading, so 'newest first' is decided by time."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def citation(marker: int, **fields) -> Citation:
    values = {"source": f"reports/{marker:03d}_harbour.txt", "article_id": f"a{marker}",
              "quote": f"Quote number {marker}, with “curly” marks and a café.",
              "start": 100 * marker, "end": 100 * marker + 48}
    return Citation(marker=marker, **(values | fields))


def answer(text: str = "The port reopened on Monday [1] after the storm [2].") -> Answer:
    """An answer with three kinds of citation: fully dated, dated as written, undated."""
    return Answer(
        text=text,
        citations=[
            citation(1, title="Port reopens", outlet="Coast Herald", published="2026-02-02",
                     score=0.83),
            citation(2, date_text="2 February", quote="Line one of the quote.\nLine two."),
            citation(3, title="Storm season", source="notes/storm.md", start=7, end=29),
        ],
        short=ShortAnswer(text="Monday", marker=1, source="reports/001_harbour.txt",
                          start=120, end=126),
        notes=["Only articles published in February 2026 were searched."],
        unsupported=["It reopened at dawn."],
        query="When did the port reopen after the storm?",
    )


@pytest.fixture
def store(tmp_path: Path) -> ConversationStore:
    return ConversationStore(tmp_path / "store" / FILE_NAME, clock=Clock())


# -- the file ---------------------------------------------------------------------------


def test_file_is_created_on_first_use_in_wal_mode_with_a_schema_version(tmp_path):
    path = tmp_path / "deep" / "store" / FILE_NAME
    store = ConversationStore(path)
    assert not path.parent.exists()  # building the store touches nothing
    assert store.list("alice") == []
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_store_path_is_inside_the_store_folder(tmp_path):
    settings = Settings(store_dir=tmp_path / "idx")
    assert store_path(settings) == tmp_path / "idx" / "conversations.sqlite3"
    assert ConversationStore.for_settings(settings).path == store_path(settings)


def test_a_second_store_on_the_same_file_reads_what_the_first_wrote(store):
    conversation = store.create("alice", "Harbour")
    store.add_turn("alice", conversation, "When did it reopen?", answer())
    again = ConversationStore(store.path)
    assert [s.title for s in again.list("alice")] == ["Harbour"]
    assert again.turns("alice", conversation)[0][1] == answer()


# -- turns --------------------------------------------------------------------------------


def test_turns_round_trip_every_field_of_every_answer(store):
    conversation = store.create("alice")
    first, second = answer(), answer("The articles don't say.").model_copy(
        update={"refused": True, "citations": [citation(1)], "short": None})
    store.add_turn("alice", conversation, "When did the port reopen?", first)
    store.add_turn("alice", conversation, "And who paid for it?", second)

    turns = store.turns("alice", conversation)

    assert turns == [("When did the port reopen?", first), ("And who paid for it?", second)]
    kept = turns[0][1].citations
    assert [(c.source, c.start, c.end, c.quote, c.date_label) for c in kept] == [
        (c.source, c.start, c.end, c.quote, c.date_label) for c in first.citations]
    assert kept[1].date_label == "2 February (year not given)"
    assert kept[2].date_label == "date unknown"


def test_a_turn_is_stored_with_its_time(store):
    conversation = store.create("alice")
    store.add_turn("alice", conversation, "When?", answer())
    with sqlite3.connect(store.path) as db:
        asked = db.execute("SELECT asked FROM turns").fetchone()[0]
    assert datetime.fromisoformat(asked) == store.clock.now


def test_an_empty_question_is_not_a_turn(store):
    conversation = store.create("alice")
    with pytest.raises(ValueError):
        store.add_turn("alice", conversation, "   ", answer())
    assert store.turns("alice", conversation) == []


def test_a_stored_answer_this_version_cannot_read_is_an_error_that_keeps_it(store):
    conversation = store.create("alice")
    store.add_turn("alice", conversation, "When?", answer())
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE turns SET answer = '{\"citations\": 7}'")
    with pytest.raises(HistoryError, match="cannot be read by this version"):
        store.turns("alice", conversation)
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT answer FROM turns").fetchone()[0] == '{"citations": 7}'


# -- the list, titles ---------------------------------------------------------------------


def test_list_is_newest_first_by_the_last_question_asked(store):
    older = store.create("alice", "Older")
    newer = store.create("alice", "Newer")
    assert [s.id for s in store.list("alice")] == [newer, older]

    store.add_turn("alice", older, "A follow-up?", answer())

    listed = store.list("alice")
    assert [(s.id, s.title, s.turns) for s in listed] == [(older, "Older", 1),
                                                         (newer, "Newer", 0)]
    assert listed[0].updated == store.clock.now
    assert listed[0].updated > listed[1].updated


def test_conversations_created_in_the_same_instant_list_the_last_created_first(tmp_path):
    instant = datetime(2026, 1, 1, tzinfo=UTC)
    store = ConversationStore(tmp_path / FILE_NAME, clock=lambda: instant)
    ids = [store.create("alice", f"Chat {n}") for n in range(3)]
    assert [s.id for s in store.list("alice")] == ids[::-1]


def test_untitled_conversation_is_named_after_its_first_question(store):
    conversation = store.create("alice")
    assert store.summary("alice", conversation).title == UNTITLED
    store.add_turn("alice", conversation, "  Who paid for the new harbour wall?  ", answer())
    store.add_turn("alice", conversation, "And when was it finished?", answer())
    assert store.summary("alice", conversation).title == "Who paid for the new harbour wall?"


def test_a_given_title_is_kept_when_questions_come(store):
    conversation = store.create("alice", "  My harbour notes ")
    store.add_turn("alice", conversation, "Who paid?", answer())
    assert store.summary("alice", conversation).title == "My harbour notes"


@pytest.mark.parametrize("question, title", [
    ("Short question?", "Short question?"),
    ("Why did the city council postpone the vote on the harbour budget until next spring?",
     "Why did the city council postpone the vote on the harbour…"),
    ("x" * 80, "x" * 60 + "…"),
    ("Who\nsaid   it?", "Who said it?"),
])
def test_default_title_is_cut_at_a_word_boundary(question, title):
    made = default_title(question)
    assert made == title
    assert len(made) <= 61


def test_rename_trims_and_keeps_the_place_in_the_list(store):
    first = store.create("alice", "First")
    second = store.create("alice", "Second")
    store.rename("alice", first, "  Harbour: the budget  ")
    listed = store.list("alice")
    assert [(s.id, s.title) for s in listed] == [(second, "Second"),
                                                (first, "Harbour: the budget")]


@pytest.mark.parametrize("title", ["", "   ", "\n\t"])
def test_an_empty_title_is_refused_with_a_message(store, title):
    conversation = store.create("alice", "Kept")
    with pytest.raises(HistoryError, match="title cannot be empty"):
        store.rename("alice", conversation, title)
    with pytest.raises(HistoryError, match="title cannot be empty"):
        store.create("alice", title)
    assert [s.title for s in store.list("alice")] == ["Kept"]


def test_delete_removes_the_conversation_and_its_turns(store):
    kept = store.create("alice", "Kept")
    gone = store.create("alice", "Gone")
    store.add_turn("alice", gone, "Who?", answer())
    store.add_turn("alice", kept, "What?", answer())

    store.delete("alice", gone)

    assert [s.id for s in store.list("alice")] == [kept]
    with pytest.raises(HistoryError, match="No conversation"):
        store.turns("alice", gone)
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT COUNT(*) FROM turns").fetchone()[0] == 1
    with pytest.raises(HistoryError):
        store.delete("alice", gone)


# -- owners -------------------------------------------------------------------------------


def test_an_owner_never_sees_or_changes_another_owners_conversations(store):
    alices = store.create("alice", "Alice's")
    store.add_turn("alice", alices, "Who paid?", answer())
    bobs = store.create("bob", "Bob's")

    assert [s.id for s in store.list("bob")] == [bobs]
    assert [s.id for s in store.list("alice")] == [alices]
    attempts = [
        lambda: store.turns("bob", alices),
        lambda: store.summary("bob", alices),
        lambda: store.add_turn("bob", alices, "Mine now?", answer()),
        lambda: store.rename("bob", alices, "Taken"),
        lambda: store.delete("bob", alices),
    ]
    for attempt in attempts:
        with pytest.raises(HistoryError, match="No conversation") as raised:
            attempt()
        assert isinstance(raised.value, NewsqaError)

    assert store.summary("alice", alices).title == "Alice's"
    assert [q for q, _ in store.turns("alice", alices)] == ["Who paid?"]
    assert store.list("carol") == []


def test_another_owners_id_gets_the_same_answer_as_an_unknown_one(store):
    alices = store.create("alice")
    with pytest.raises(HistoryError) as foreign:
        store.turns("bob", alices)
    with pytest.raises(HistoryError) as unknown:
        store.turns("bob", "0" * 32)
    assert str(foreign.value).replace(alices, "ID") == str(unknown.value).replace("0" * 32, "ID")


@pytest.mark.parametrize("owner", ["", "  "])
def test_an_empty_owner_key_is_refused(store, owner):
    with pytest.raises(ValueError, match="owner"):
        store.create(owner)
    with pytest.raises(ValueError, match="owner"):
        store.list(owner)


# -- a corrupt file ---------------------------------------------------------------------


def test_a_corrupt_file_is_moved_aside_and_a_fresh_one_started(tmp_path, caplog):
    path = tmp_path / FILE_NAME
    garbage = b"this is not a database, just bytes\x00\xff" * 200
    path.write_bytes(garbage)
    (tmp_path / f"{FILE_NAME}-wal").write_bytes(b"stale wal")
    store = ConversationStore(path, clock=Clock())

    with caplog.at_level(logging.WARNING, logger="ui.history"):
        assert store.list("alice") == []

    moved = sorted(tmp_path.glob(f"{FILE_NAME}.corrupt-*"))
    assert [p.name for p in moved] == [f"{store.recovered.name}", f"{store.recovered.name}-wal"]
    assert store.recovered.read_bytes() == garbage  # kept, byte for byte
    assert "unreadable" in caplog.text and store.recovered.name in caplog.text
    conversation = store.create("alice", "Fresh")
    store.add_turn("alice", conversation, "Who?", answer())
    assert ConversationStore(path).turns("alice", conversation)[0][0] == "Who?"


def test_a_file_that_turns_corrupt_in_use_is_moved_aside_and_the_call_says_so(store, tmp_path):
    conversation = store.create("alice", "Before")
    garbage = b"\x13" * 8192
    store.path.write_bytes(garbage)
    wal = Path(f"{store.path}-wal")
    wal.write_bytes(b"changes not yet written back")

    with pytest.raises(HistoryError, match="unreadable.*kept as .*corrupt-") as raised:
        store.add_turn("alice", conversation, "Who?", answer())

    assert store.recovered.read_bytes() == garbage
    assert Path(f"{store.recovered}-wal").read_bytes() == b"changes not yet written back"
    assert str(store.recovered) in str(raised.value)
    assert store.list("alice") == []  # the fresh file works at once
    store.create("alice", "After")


def test_a_second_recovery_never_overwrites_the_first(tmp_path):
    path = tmp_path / FILE_NAME
    instant = datetime(2026, 1, 1, tzinfo=UTC)
    kept = []
    for n in range(2):
        path.write_bytes(f"garbage {n} ".encode() * 300)
        store = ConversationStore(path, clock=lambda: instant)
        store.list("alice")
        kept.append(store.recovered)
    assert kept[0] != kept[1]
    assert [p.read_bytes()[:9] for p in kept] == [b"garbage 0", b"garbage 1"]


def test_a_file_from_a_newer_schema_is_refused_untouched(tmp_path):
    path = tmp_path / FILE_NAME
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(HistoryError, match="newer newsqa"):
        ConversationStore(path).list("alice")
    assert list(tmp_path.glob("*.corrupt-*")) == []


def test_a_store_folder_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "store").write_text("not a folder")
    with pytest.raises(HistoryError, match="NEWSQA_STORE_DIR"):
        ConversationStore(tmp_path / "store" / FILE_NAME).list("alice")


# -- threads ------------------------------------------------------------------------------


def test_threads_adding_turns_to_one_conversation_all_get_stored(tmp_path):
    store = ConversationStore(tmp_path / FILE_NAME)  # the first use races too
    conversation = store.create("alice")
    threads_n, per_thread = 6, 10
    errors: list[BaseException] = []

    def ask(worker: int) -> None:
        try:
            for n in range(per_thread):
                store.add_turn("alice", conversation, f"q {worker}-{n}", answer(f"a {worker}-{n}"))
                store.list("alice")
        except BaseException as error:  # noqa: BLE001 (reported by the assert below)
            errors.append(error)

    threads = [threading.Thread(target=ask, args=(w,)) for w in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    turns = store.turns("alice", conversation)
    assert len(turns) == threads_n * per_thread
    assert {q for q, _ in turns} == {f"q {w}-{n}" for w in range(threads_n)
                                     for n in range(per_thread)}
    assert all(a.text == "a " + q[2:] for q, a in turns)
    for worker in range(threads_n):  # each thread's turns in the order it added them
        mine = [q for q, _ in turns if q.startswith(f"q {worker}-")]
        assert mine == [f"q {worker}-{n}" for n in range(per_thread)]
    assert store.list("alice")[0].turns == threads_n * per_thread


def test_threads_on_a_fresh_store_prepare_the_file_once(tmp_path):
    store = ConversationStore(tmp_path / "new" / FILE_NAME)
    ids: list[str] = []
    threads = [threading.Thread(target=lambda: ids.append(store.create("alice")))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(s.id for s in store.list("alice")) == sorted(ids)
    assert len(ids) == 4


# -- exports ------------------------------------------------------------------------------


def conversation_turns() -> list[tuple[str, Answer]]:
    return [("When did the port reopen?", answer()),
            ("And the storm?", answer("The storm passed [1].").model_copy(
                update={"citations": [citation(1, source="other/storm.html", start=5, end=53,
                                               quote="The storm passed north of the bay.")],
                        "notes": [], "unsupported": [], "short": None}))]


def test_markdown_export_holds_every_question_quote_file_offset_and_date():
    turns = conversation_turns()
    markdown = to_markdown("Harbour questions", turns)

    assert markdown.startswith("# Harbour questions\n")
    for question, reply in turns:
        assert f"## {question}" in markdown
        assert reply.text in markdown
        for c in reply.citations:
            for line in c.quote.splitlines():
                assert f"> {line}" in markdown
            assert f"`{c.source}` ({c.start}-{c.end})" in markdown
            assert c.date_label in markdown
    assert "Port reopens" in markdown and "Coast Herald" in markdown
    assert "2 February (year not given)" in markdown and "date unknown" in markdown
    assert "_Only articles published in February 2026 were searched._" in markdown
    assert "It reopened at dawn." in markdown


def test_markdown_export_numbers_sources_like_the_markers():
    reply = answer().model_copy(update={"citations": [citation(3), citation(1)]})
    markdown = to_markdown("T", [("Q?", reply)])
    entries = [line for line in markdown.splitlines() if line[:2] in ("1.", "3.")]
    assert [line[:2] for line in entries] == ["1.", "3."]
    assert "(100-148)" in entries[0] and "(300-348)" in entries[1]
    # each quote sits in a blockquote inside its list entry
    assert "\n   > Quote number 1, with" in markdown


def test_markdown_export_of_an_empty_conversation():
    assert to_markdown("Nothing yet", []) == "# Nothing yet\n\n_No questions yet._\n"


def test_json_export_parses_and_round_trips_every_citation():
    turns = conversation_turns()
    exported_at = datetime(2026, 3, 2, 12, 30, tzinfo=UTC)

    document = json.loads(to_json("Harbour questions", turns, exported_at=exported_at))

    assert set(document) == {"title", "exported_at", "turns"}
    assert document["title"] == "Harbour questions"
    assert datetime.fromisoformat(document["exported_at"]) == exported_at
    back = [(t["question"], Answer.model_validate(t["answer"])) for t in document["turns"]]
    assert back == turns
    assert [c for _, a in back for c in a.citations] == [c for _, a in turns for c in a.citations]


def test_json_export_keeps_text_readable_and_stamps_the_time_when_not_given():
    text = to_json("Café", conversation_turns())
    assert "“curly”" in text and "Café" in text  # not \\u escapes
    stamped = datetime.fromisoformat(json.loads(text)["exported_at"])
    assert abs(stamped - datetime.now(UTC)) < timedelta(minutes=1)


def test_a_stored_conversation_exports_whole(store):
    conversation = store.create("alice", "Harbour")
    for question, reply in conversation_turns():
        store.add_turn("alice", conversation, question, reply)
    title = store.summary("alice", conversation).title
    document = json.loads(to_json(title, store.turns("alice", conversation)))
    assert [(t["question"], Answer.model_validate(t["answer"])) for t in document["turns"]] \
        == conversation_turns()


def test_a_file_with_a_good_header_but_damaged_pages_is_moved_aside(tmp_path):
    path = tmp_path / FILE_NAME
    first = ConversationStore(path)
    for n in range(40):
        first.add_turn("alice", first.create("alice"), f"Question {n}?", answer())
    data = bytearray(path.read_bytes())
    data[4096:] = b"\xa5" * (len(data) - 4096)  # every page after the first
    path.write_bytes(bytes(data))

    store = ConversationStore(path)
    assert store.list("alice") == []
    assert store.recovered.read_bytes() == bytes(data)
