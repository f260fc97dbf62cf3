"""How a message travelled: "How were the condolences delivered?" asks for a channel (a
letter, a phone call, a statement), and two accounts naming different channels differ.

`asks_means("How were al-Sharaa's condolences to Trump delivered?")` -> True;
`channels("During the call, Shaibani conveyed condolences ...")` -> {"call"}.
"""

from __future__ import annotations

import re

from rag.terms import words

# "How was/were/did ... delivered / conveyed / sent / passed on ...?": the means, not the manner.
_MEANS_QUESTION = re.compile(
    r"\bhow (?:was|were|is|are|did|does|do|has|have|had)\b.*\b(?:deliver|convey|sen[dt]"
    r"|communicat|relay|transmit|pass(?:ed)? on)\w*",
    re.IGNORECASE,
)
# Ways a message is carried, as written (not stemmed: "called for" is no phone call);
# each word maps to its channel, so "phone" and "call" are one.
_CHANNEL_WORDS = {
    "letter": "letter", "letters": "letter", "call": "call", "calls": "call", "phone": "call",
    "telephone": "call", "email": "email", "emails": "email", "statement": "statement",
    "statements": "statement", "video": "video", "videoconference": "video", "tweet": "tweet",
    "tweets": "tweet", "telegram": "telegram", "envoy": "envoy", "envoys": "envoy",
    "emissary": "envoy", "meeting": "meeting", "speech": "speech", "interview": "interview",
    "broadcast": "broadcast",
}


def asks_means(question: str) -> bool:
    """The question asks how something was delivered or conveyed."""
    return bool(_MEANS_QUESTION.search(question))


def channels(sentence: str) -> set[str]:
    """The channels a sentence names, one name per channel: "a phone call" -> {"call"}."""
    return {_CHANNEL_WORDS[w] for w in words(sentence) if w in _CHANNEL_WORDS}


def different_channels(first: str, second: str) -> bool:
    """Both sentences name a channel and no channel is common to them: a letter vs a call.
    A channel in both ("a statement" and "in a statement and a letter") is agreement."""
    a, b = channels(first), channels(second)
    return bool(a and b) and not a & b
