"""Words as the lexical side sees them: lower-cased, stop words dropped, Porter-stemmed.

BM25 retrieval, sentence ranking and reply validation all use these functions, so a
word counts as "the same" everywhere: `terms("Troops were killed")` -> ["troop", "kill"].
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

# PyStemmer: Snowball's stemmers in C. (NLTK's PorterStemmer cost 1-2 s of imports at
# every start: nltk loads scipy.stats and scikit-learn with it.)
import Stemmer

VERSION = 2  # bump whenever terms() changes: lexical indexes saved before are then rebuilt

# Hyphens split words ("al-Assad" -> "al", "assad"; "Iran-backed" -> "iran", "backed").
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’]*[A-Za-z0-9]|[A-Za-z0-9]")

# Function words and question words: they say nothing about which passage answers.
_STOP_WORD_LIST = """a an and are as at be been being but by can could did do does for from had
    has have he her hers him his how i if in into is it its me my no not of on or our she so such
    than that the their them then there these they this those to us was we were what when
    where which while who whom whose why will with would you your about after also any
    before between both during each more most other over some under up until very just
    say said says tell told according s t al el many much alongside besides"""
STOP_WORDS = frozenset(_STOP_WORD_LIST.split())

# Nationality adjectives fold into their country, so "Turkish minister" meets "Turkey".
DEMONYMS = {
    "syrian": "syria", "syrians": "syria", "turkish": "turkey", "turkiye": "turkey",
    "iraqi": "iraq", "iraqis": "iraq", "iranian": "iran", "israeli": "israel",
    "kurdish": "kurd", "kurds": "kurd", "american": "america", "americans": "america",
    "french": "france", "russian": "russia", "british": "britain", "lebanese": "lebanon",
    "jordanian": "jordan", "egyptian": "egypt", "saudi": "saudi", "chinese": "china",
    "ukrainian": "ukraine", "german": "germany", "european": "europe",
}

# Irregular past forms Porter leaves apart from their verb.
IRREGULAR = {
    "overthrown": "overthrow", "overthrew": "overthrow", "thrown": "throw", "threw": "throw",
    "taken": "take", "took": "take", "given": "give", "gave": "give", "shot": "shoot",
    "fled": "flee", "fell": "fall", "fallen": "fall", "struck": "strike", "won": "win",
    "began": "begin", "begun": "begin", "held": "hold", "met": "meet", "led": "lead",
    "left": "leave", "sent": "send", "spoke": "speak", "spoken": "speak", "brought": "bring",
    "built": "build", "chose": "choose", "chosen": "choose", "wrote": "write",
    "written": "write", "drew": "draw", "drawn": "draw", "grew": "grow", "grown": "grow",
    "known": "know", "knew": "know", "seen": "see", "saw": "see", "went": "go", "gone": "go",
    "broke": "break", "broken": "break", "caught": "catch", "fought": "fight",
    "sought": "seek", "bought": "buy", "paid": "pay", "stood": "stand", "ran": "run",
    "rose": "rise", "risen": "rise", "felt": "feel", "kept": "keep", "lost": "lose",
    "found": "find", "hid": "hide", "hidden": "hide", "froze": "freeze", "frozen": "freeze",
    "swore": "swear", "sworn": "swear", "withdrew": "withdraw", "withdrawn": "withdraw",
}

_stemmers = threading.local()  # a PyStemmer object must not be shared between threads


def _stemmer() -> Stemmer.Stemmer:
    if not hasattr(_stemmers, "porter"):
        _stemmers.porter = Stemmer.Stemmer("porter")  # Porter's original algorithm
    return _stemmers.porter


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Porter stem of a lower-case word; cached, as news text repeats its words a lot."""
    return DEMONYMS.get(word) or _stemmer().stemWord(IRREGULAR.get(word, word))


def words(text: str) -> list[str]:
    """Lower-case word tokens, apostrophes folded: "Assad's" -> "assad"."""
    out = []
    for match in WORD.finditer(text):
        word = match.group().lower().replace("’", "'")
        out.append(word.removesuffix("'s"))
    return out


def terms(text: str) -> list[str]:
    """Stemmed content words of `text`, in order, repeats kept."""
    return [stem(w) for w in words(text) if w not in STOP_WORDS]
