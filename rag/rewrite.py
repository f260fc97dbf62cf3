"""Follow-up questions made standalone before retrieval.

Without an LLM a deterministic rule carries the previous question's key words over, and the
short answer the previous turn led with, never the rest of its answer (which may tell of
other incidents): ("Who is Turkey's foreign minister?", "**Hakan Fidan**: ...") then "When
did he say it?" -> "When did he say it? Turkey's foreign minister Hakan Fidan".
"""

from __future__ import annotations

import re
from collections.abc import Callable

from rag.extractive.answerer import REFUSAL
from rag.extractive.digest import HEADING
from rag.terms import STOP_WORDS, words

# Words that only make sense with an earlier turn: pronouns, "that", "there", "then".
_REFERRING_WORDS = """he she it they them him her his hers its their theirs this that these
    those there then one ones same also too other others another else"""
_REFERRING = frozenset(_REFERRING_WORDS.split())
_LEADING = re.compile(r"^\s*(and|but|also|so|what about|how about|and what about)\b", re.IGNORECASE)
_MARKER = re.compile(r"\[\d+\]")
MAX_CARRIED_NAMES = 4
# Runs of capitalised words after the first word of the sentence: "Tom Barrack", "Aleppo".
_NAME = re.compile(r"(?<=[\w,;:’'\"”)] )[A-Z][\w’'\-]+(?: (?:of |al-)?[A-Z][\w’'\-]+)*")
_SHORT = re.compile(r"^(?:The articles differ: )?\*\*(.+?)\*\*:")  # the short answer that leads
SHORT_QUESTION = 3  # content words; fewer means the question leans on the conversation


def needs_context(question: str) -> bool:
    """True when the question leans on earlier turns: it refers back ("When did he say it?"),
    opens with "and"/"what about", or is short and names nothing ("how many got hurt?")."""
    tokens = words(question)
    content = [t for t in tokens if t not in STOP_WORDS]
    named = bool(_NAME.search(question))  # "Who commands CENTCOM?" names what it is about
    return bool(_REFERRING & set(tokens)) or bool(_LEADING.match(question)) or (
        len(content) < SHORT_QUESTION and len(tokens) > 0 and not named
    )


def rule_rewrite(question: str, history: list[tuple[str, str]]) -> str:
    """The question plus the key words of the last user turn and names from its answer."""
    if not history or not needs_context(question):
        return question
    carried = key_words(history[-1][0])
    if needs_context(history[-1][0]) and len(history) > 1:
        carried = key_words(history[-2][0]) + carried  # the earlier turn was a follow-up too
    carried += answer_names(history[-1][1])
    extra = [w for w in dict.fromkeys(carried) if w.lower() not in question.lower()]
    return f"{question} {' '.join(extra)}".strip()


def answer_names(answer: str) -> list[str]:
    """What the previous answer named: its short answer, or the names in its first sentence
    (the direct answer). A digest, which tells of several incidents, lends none."""
    short = _SHORT.match(answer)
    if short:
        return [short.group(1)]
    if answer.startswith((HEADING, REFUSAL)):
        return []
    first = _MARKER.split(answer, maxsplit=1)[0]
    return list(dict.fromkeys(_NAME.findall(first)))[:MAX_CARRIED_NAMES]


def key_words(text: str) -> list[str]:
    """The content words of a question, in order, as written (no stems)."""
    found = re.findall(r"[A-Za-z0-9][\w'’\-]*", text)
    return [w for w in found if w.lower().removesuffix("'s").removesuffix("’s") not in STOP_WORDS
            and w.lower() not in _REFERRING]


REWRITE_PROMPT = (
    "Rewrite the user's last question as one standalone search query for news articles, "
    "resolving pronouns and references from the conversation. Reply with the query only.\n\n"
    "Conversation:\n{conversation}\n\nLast question: {question}\nStandalone query:"
)


def llm_rewrite(question: str, history: list[tuple[str, str]],
                complete: Callable[[str], str]) -> str:
    """Standalone query written by the LLM (`complete` sends one prompt, returns its text)."""
    if not history:
        return question
    turns = "\n".join(f"User: {u}\nAssistant: {_MARKER.sub('', a)[:400]}" for u, a in history[-3:])
    reply = complete(REWRITE_PROMPT.format(conversation=turns, question=question)).strip()
    first = reply.splitlines()[0].strip(" \"'") if reply else ""
    return first if is_rewrite(first, question, history) else rule_rewrite(question, history)


MAX_REWRITE_GROWTH = 60  # characters a rewrite may add to the question it rewrites


def is_rewrite(candidate: str, question: str, history: list[tuple[str, str]]) -> bool:
    """Does the model's line read as the question made standalone, not as an answer? It
    must keep a word of the question (or ask, with "?"), stay about as short, and not repeat
    the previous answer: one model answered instead, and its answer became the query."""
    if not candidate or len(candidate) > len(question) + MAX_REWRITE_GROWTH:
        return False
    previous = _MARKER.sub("", history[-1][1]).lower() if history else ""
    if candidate.lower().rstrip(".?! ") in previous:
        return False
    kept = set(key_words(question)) & set(key_words(candidate))
    return bool(kept) or candidate.rstrip().endswith("?")
