"""Conversations that last: each owner's chats kept in SQLite inside the store folder, and
exported as Markdown or JSON. No gradio here: the page passes an owner key (a browser
session id, or the user name with a login) and gets plain values back.

Every answer is stored whole (`Answer.model_dump(mode="json")`), so a conversation read
back months later still shows each claim's file, offsets, quote and date.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from rag.config import Settings
from rag.errors import NewsqaError
from rag.types import Answer, Citation

log = logging.getLogger(__name__)

FILE_NAME = "conversations.sqlite3"
TITLE_CHARS = 60  # a default title's length at most, before its ellipsis
UNTITLED = "New conversation"  # shown until a title is given or the first question names it
# A writer waits this long for another one (another thread or process) before giving up.
BUSY_TIMEOUT_S = 10.0
# SQLite's primary result codes for a file that is not, or no longer, a database.
_CORRUPT_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite 3 database

# Schema migrations, in order: MIGRATIONS[n] takes a file from user_version n to n + 1.
# Add a new entry for a change; never edit one that has shipped.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE conversations (
            id      TEXT PRIMARY KEY,
            owner   TEXT NOT NULL,
            title   TEXT,           -- NULL until given or named after the first question
            created TEXT NOT NULL,  -- ISO 8601, UTC
            updated TEXT NOT NULL   -- the last turn's time, or `created`
        )""",
        "CREATE INDEX conversations_by_owner ON conversations (owner, updated)",
        """CREATE TABLE turns (
            id              INTEGER PRIMARY KEY AUTOINCREMENT,  -- the order they were asked
            conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            question        TEXT NOT NULL,
            answer          TEXT NOT NULL,  -- Answer.model_dump(mode="json") as JSON
            asked           TEXT NOT NULL   -- ISO 8601, UTC
        )""",
        "CREATE INDEX turns_by_conversation ON turns (conversation_id, id)",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)

Turn = tuple[str, Answer]


class HistoryError(NewsqaError):
    """A conversation cannot be found, named or read as asked."""


class _Unreadable(sqlite3.DatabaseError):
    """The file is not an SQLite database: found before SQLite opens it (see `_open`)."""


@dataclass(frozen=True)
class ConversationSummary:
    """One line of an owner's conversation list."""

    id: str
    title: str
    updated: datetime  # the last question's time (UTC), or when it was created
    turns: int


def store_path(settings: Settings) -> Path:
    """Where the conversations are kept: beside the index, so one folder holds a
    deployment's state."""
    return Path(settings.store_dir) / FILE_NAME


def _now() -> datetime:
    return datetime.now(UTC)


class ConversationStore:
    """Owners' conversations in one SQLite file, safe to share between Gradio's worker
    threads (and processes): each call opens its own connection, writes take SQLite's
    write lock up front, and the file is in WAL mode so readers never wait for a writer.

    Every method takes the owner and acts only on that owner's conversations: another
    owner's id is answered exactly like an unknown one, so ids reveal nothing.

    The file and its folders are created on first use, not here. `clock` exists for tests.
    """

    def __init__(self, path: Path | str, clock: Callable[[], datetime] = _now) -> None:
        self.path = Path(path)
        self.clock = clock
        # Set when an unreadable file was found and moved here, for the page to mention.
        self.recovered: Path | None = None
        self._ready = False
        self._lock = threading.Lock()  # one thread prepares (or recovers) the file

    @classmethod
    def for_settings(cls, settings: Settings) -> ConversationStore:
        return cls(store_path(settings))

    # -- the conversations ---------------------------------------------------------

    def create(self, owner: str, title: str | None = None) -> str:
        """A new, empty conversation; returns its id. Without a title it is named after
        its first question."""
        _check_owner(owner)
        title = None if title is None else clean_title(title)
        conversation_id = uuid.uuid4().hex  # unguessable: it travels through the browser
        now = self._timestamp()
        with self._write() as db:
            db.execute("INSERT INTO conversations (id, owner, title, created, updated) "
                       "VALUES (?, ?, ?, ?, ?)", (conversation_id, owner, title, now, now))
        return conversation_id

    def list(self, owner: str) -> list[ConversationSummary]:
        """The owner's conversations, the most recently asked first."""
        _check_owner(owner)
        with self._read() as db:
            rows = db.execute(
                "SELECT c.id, c.title, c.updated, COUNT(t.id) FROM conversations c "
                "LEFT JOIN turns t ON t.conversation_id = c.id WHERE c.owner = ? "
                "GROUP BY c.id ORDER BY c.updated DESC, c.rowid DESC", (owner,)).fetchall()
        return [_summary(*row) for row in rows]

    def summary(self, owner: str, conversation_id: str) -> ConversationSummary:
        """One conversation's list line (its title, for an export)."""
        _check_owner(owner)
        with self._read() as db:
            row = db.execute(
                "SELECT c.id, c.title, c.updated, COUNT(t.id) FROM conversations c "
                "LEFT JOIN turns t ON t.conversation_id = c.id WHERE c.owner = ? AND c.id = ? "
                "GROUP BY c.id", (owner, conversation_id)).fetchone()
        if row is None:
            raise _unknown(conversation_id)
        return _summary(*row)

    def rename(self, owner: str, conversation_id: str, title: str) -> None:
        """Give a conversation the title typed (trimmed). Its place in the list stays."""
        _check_owner(owner)
        title = clean_title(title)
        with self._write() as db:
            changed = db.execute("UPDATE conversations SET title = ? WHERE owner = ? AND id = ?",
                                 (title, owner, conversation_id)).rowcount
        if not changed:
            raise _unknown(conversation_id)

    def delete(self, owner: str, conversation_id: str) -> None:
        """Remove a conversation and all its turns."""
        _check_owner(owner)
        with self._write() as db:
            deleted = db.execute("DELETE FROM conversations WHERE owner = ? AND id = ?",
                                 (owner, conversation_id)).rowcount
        if not deleted:
            raise _unknown(conversation_id)

    # -- the turns -----------------------------------------------------------------

    def add_turn(self, owner: str, conversation_id: str, question: str, answer: Answer) -> None:
        """Keep one question and its whole answer (every citation with its file, offsets,
        quote and date), and move the conversation to the top of the owner's list."""
        _check_owner(owner)
        if not question.strip():
            raise ValueError("a turn needs a question")
        answer_json = json.dumps(answer.model_dump(mode="json"), ensure_ascii=False)
        now = self._timestamp()
        with self._write() as db:
            title = self._owned_title(db, owner, conversation_id)
            db.execute("INSERT INTO turns (conversation_id, question, answer, asked) "
                       "VALUES (?, ?, ?, ?)", (conversation_id, question, answer_json, now))
            db.execute("UPDATE conversations SET updated = ?, title = ? WHERE id = ?",
                       (now, title or default_title(question), conversation_id))

    def turns(self, owner: str, conversation_id: str) -> list[Turn]:
        """The conversation's (question, Answer) turns in the order they were asked."""
        _check_owner(owner)
        with self._read() as db:
            self._owned_title(db, owner, conversation_id)
            rows = db.execute("SELECT id, question, answer FROM turns WHERE conversation_id = ? "
                              "ORDER BY id", (conversation_id,)).fetchall()
        return [(question, _answer_of(turn_id, text)) for turn_id, question, text in rows]

    def _owned_title(self, db: sqlite3.Connection, owner: str, conversation_id: str) -> str | None:
        """The conversation's stored title; HistoryError unless `owner` owns it."""
        row = db.execute("SELECT title FROM conversations WHERE owner = ? AND id = ?",
                         (owner, conversation_id)).fetchone()
        if row is None:
            raise _unknown(conversation_id)
        return row[0]

    def _timestamp(self) -> str:
        # Fixed width (microseconds, UTC offset) so that text order is time order.
        return self.clock().astimezone(UTC).isoformat(timespec="microseconds")

    # -- the file ------------------------------------------------------------------

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._connection() as db:
            yield db

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction that holds the write lock from its start: a deferred one that
        reads first could fail at once, not wait, when another writer got in between."""
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A fresh connection per call (sqlite3 connections must not cross threads). A file
        found corrupt here is moved aside, and the call fails saying so."""
        self._prepare()
        try:
            with contextlib.closing(self._open()) as db:
                yield db
        except sqlite3.DatabaseError as error:
            if _is_busy(error):
                raise HistoryError(
                    f"The conversation history is busy (another change took over "
                    f"{BUSY_TIMEOUT_S:.0f} s); try again.") from error
            if not _is_corrupt(error):
                raise
            moved = self._recover(str(error))
            done = f"it was kept as {moved} and a new one started" if moved else "try again"
            raise HistoryError(f"The conversation history file was unreadable ({error}); "
                               f"{done}. This last change was not saved.") from error

    def _open(self) -> sqlite3.Connection:
        # Checked first because SQLite, on closing a connection to a file with a bad header,
        # deletes the WAL beside it: the very file that may hold the last changes.
        problem = _header_problem(self.path)
        if problem:
            raise _Unreadable(problem)
        # isolation_level=None: transactions are ours (BEGIN IMMEDIATE), not the module's.
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        db.execute("PRAGMA foreign_keys = ON")  # per connection: turns go with their conversation
        return db

    def _prepare(self) -> None:
        """On first use: create the folder and the schema, and move an unreadable file
        aside (then start a fresh one) instead of failing every call after."""
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                problem = self._problem()
                if problem:
                    self._move_aside(problem)
                self._migrate()
            except (OSError, sqlite3.OperationalError) as error:
                raise HistoryError(
                    f"Cannot open the conversation history {self.path} ({error}): the store "
                    "folder (NEWSQA_STORE_DIR) must be a writable folder.") from error
            self._ready = True

    def _problem(self) -> str | None:
        """Why the existing file cannot be used as a database, or None."""
        if not self.path.exists():
            return None
        try:
            with contextlib.closing(self._open()) as db:
                verdict = db.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as error:
            if not _is_corrupt(error):
                raise
            return str(error)
        return None if verdict == "ok" else verdict

    def _migrate(self) -> None:
        with contextlib.closing(self._open()) as db:
            db.execute("PRAGMA journal_mode = WAL")  # kept in the file: set once is enough
            db.execute("BEGIN IMMEDIATE")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                db.execute("ROLLBACK")
                raise HistoryError(
                    f"{self.path} was written by a newer newsqa (schema {version}, this one "
                    f"reads up to {SCHEMA_VERSION}): upgrade newsqa, or set NEWSQA_STORE_DIR "
                    "to another folder.")
            # One statement at a time: executescript() would commit our transaction first.
            for step in MIGRATIONS[version:]:
                for statement in step:
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")

    def _recover(self, problem: str) -> Path | None:
        """Move a file found corrupt in use aside and start again; returns where it went,
        or None when the file reads well by now (several threads may find it at once: only
        the first moves it)."""
        with self._lock:
            if self._problem() is None:
                return None
            self._move_aside(problem)
            self._migrate()
            return self.recovered

    def _move_aside(self, problem: str) -> None:
        """Rename the file (and its WAL and shared-memory files, which belong to it: a stale
        WAL beside a new file would be replayed into it) to <name>.corrupt-<time>. Never
        deleted: someone may want to recover it."""
        target = _free_name(self.path.with_name(
            f"{self.path.name}.corrupt-{self.clock().astimezone(UTC):%Y%m%dT%H%M%S%fZ}"))
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                source.rename(f"{target}{suffix}")
        self.recovered = target
        log.warning("conversation history %s was unreadable (%s): moved to %s, starting a "
                    "new one", self.path, problem, target)


def clean_title(title: str) -> str:
    """A title as typed, trimmed; an empty one is refused (the list would show nothing)."""
    cleaned = title.strip()
    if not cleaned:
        raise HistoryError("A conversation title cannot be empty: type at least one character.")
    return cleaned


def default_title(question: str, limit: int = TITLE_CHARS) -> str:
    """A title made from the first question: its start, cut at a word boundary.

    >>> default_title("Who won the match between the two oldest clubs in the league last "
    ...               "Saturday evening?")
    'Who won the match between the two oldest clubs in the league…'
    """
    text = " ".join(question.split())
    if len(text) <= limit:
        return text
    cut = text[:limit + 1].rsplit(" ", 1)[0] if " " in text[:limit + 1] else text[:limit]
    return cut.rstrip(" ,;:.-") + "…"


# -- exports (pure: the caller reads the turns and writes the file) --------------------


def to_markdown(title: str, turns: Sequence[Turn]) -> str:
    """A conversation as a Markdown document: each question as a heading, the answer with
    its [n] markers, then its sources numbered like the markers, each with file, offsets,
    date, title and outlet, and the quote itself. Text is kept verbatim (not escaped), so
    that every quote can be found in the export exactly as in its article."""
    parts = [f"# {_one_line(title)}"]
    for question, answer in turns:
        parts += [f"## {_one_line(question)}", _answer_markdown(answer)]
        if answer.citations:
            parts += ["**Sources**", _sources_markdown(answer.citations)]
    if not turns:
        parts.append("_No questions yet._")
    return "\n\n".join(parts) + "\n"


def to_json(title: str, turns: Sequence[Turn], exported_at: datetime | None = None) -> str:
    """A conversation as JSON: {"title", "exported_at", "turns": [{"question", "answer"}]},
    each answer whole (`Answer.model_validate` reads it back)."""
    document = {
        "title": title,
        "exported_at": (exported_at or _now()).astimezone(UTC).isoformat(timespec="seconds"),
        "turns": [{"question": question, "answer": answer.model_dump(mode="json")}
                  for question, answer in turns],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _answer_markdown(answer: Answer) -> str:
    lines = [answer.text.strip()]
    lines += [f"_{note}_" for note in answer.notes]
    if answer.unsupported:
        lines.append("Not found in the cited passages: "
                     + "; ".join(f"“{sentence}”" for sentence in answer.unsupported))
    return "\n\n".join(lines)


def _sources_markdown(citations: Sequence[Citation]) -> str:
    return "\n".join(_source_markdown(c) for c in sorted(citations, key=lambda c: c.marker))


def _source_markdown(citation: Citation) -> str:
    """One numbered source: `file` (start-end), date, title, outlet; then the quote."""
    about = [f"`{citation.source}` ({citation.start}-{citation.end})", citation.date_label]
    about += [part for part in (citation.title, citation.outlet) if part]
    quote = "\n".join(f"   > {line}".rstrip() for line in citation.quote.splitlines() or [""])
    return f"{citation.marker}. {', '.join(about)}\n{quote}"


# -- small helpers -------------------------------------------------------------------


def _check_owner(owner: str) -> None:
    # An empty key would pool every anonymous visitor's conversations into one.
    if not owner or not owner.strip():
        raise ValueError("conversations need an owner key (a session id or a user name)")


def _unknown(conversation_id: str) -> HistoryError:
    return HistoryError(f"No conversation {conversation_id!r} here: it was deleted, or it "
                        "belongs to another session. Start a new one or pick one from the list.")


def _summary(conversation_id: str, title: str | None, updated: str,
             turns: int) -> ConversationSummary:
    return ConversationSummary(conversation_id, title or UNTITLED,
                               datetime.fromisoformat(updated), turns)


def _answer_of(turn_id: int, text: str) -> Answer:
    """A stored answer, validated again: a turn this version cannot read is an error
    that names it (the row itself stays untouched)."""
    try:
        return Answer.model_validate(json.loads(text))
    except (ValueError, ValidationError) as error:
        raise HistoryError(f"Turn {turn_id} of this conversation cannot be read by this "
                           f"version of newsqa ({error}); it is kept as stored.") from error


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _header_problem(path: Path) -> str | None:
    """Why `path` is not an SQLite file, or None (also when it is missing or empty, which
    SQLite takes as a new database)."""
    try:
        with path.open("rb") as file:
            head = file.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return None
    return None if head in (b"", SQLITE_HEADER) else "not an SQLite database file"


def _is_corrupt(error: sqlite3.DatabaseError) -> bool:
    if isinstance(error, _Unreadable):
        return True
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _CORRUPT_CODES


def _is_busy(error: sqlite3.DatabaseError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _BUSY_CODES


def _free_name(path: Path) -> Path:
    """`path`, or `path`-2, -3, ... when taken: a second recovery never overwrites a first."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate
