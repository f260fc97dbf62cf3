"""Checks an LLM reply against the passages it was given, before anyone sees it as final.

Markers are read leniently ([1], [1, 2], [1-3], (1), 【1】, [^1]; a paragraph's closing markers
cover its uncited sentences); markers that point to no passage are dropped and the rest
renumbered in order of first use. Each citation quotes the span of its passage that best
supports the sentences citing it (an exact slice, with file offsets). A sentence is supported
when it cites a passage holding its numbers and names and at least a third of its words;
the others go to Answer.unsupported. "The articles don't say" and its usual rewordings
become refused=True. `validate` also says whether a reply may be shown as an answer at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.citations import cite
from rag.mentions import names, number_values
from rag.retrieve import Hit
from rag.sentences import split_sentences
from rag.terms import terms, words
from rag.types import Answer, Citation

MARKERS = re.compile(r"\s*((?:\[\d+\])+)")
_ONE_MARKER = re.compile(r"\[(\d+)\]")
# Other ways models write markers: [1, 2], [1-3], [^1], 【1】, (1), (1, 2).
_LOOSE_MARKER = re.compile(
    r"\[\^?(\d{1,3}(?:\s*(?:,|;|-|–|and)\s*\d{1,3})*)\]|【(\d{1,3})】|\((\d{1,2}(?:\s*,\s*\d{1,2})*)\)")
_SOURCES = "(articles?|passages?|sources?|texts?|context|documents?|information)"
_REFUSALS = re.compile(
    rf"{_SOURCES} (provided |given )?(don't|do not|does not|doesn't|did not) (say|contain|"
    r"mention|cover|answer|provide|include|state|specify|tell)"
    rf"|not (in|covered by|mentioned in|stated in|found in|provided in|given in) the "
    rf"(provided |given )?{_SOURCES}"
    rf"|(is|are) not (mentioned|stated|given|provided|specified|covered)( in the "
    rf"(provided |given )?{_SOURCES})?\.?$"
    rf"|\bno (information|mention|details?|data)\b.*\b(in|from) the (provided |given )?{_SOURCES}"
    r"|^\W*(I don't know|I do not know|unknown|cannot be determined|not enough information)\b",
    re.IGNORECASE | re.MULTILINE,
)
MIN_SHARED = 1 / 3  # of a sentence's words, that its cited passages must hold


@dataclass
class Claim:
    """One sentence of the reply, without its markers, and the passages it cites."""

    text: str
    passages: list[int] = field(default_factory=list)  # 0-based indexes into hits


def is_refusal(reply: str) -> bool:
    return bool(_REFUSALS.search(reply.replace("’", "'")))


def normalize_markers(reply: str) -> str:
    """Every marker written as [n][m]: "[1, 2]" and "(1)" -> "[1][2]", "[1-3]" -> "[1][2][3]"."""
    def canonical(match: re.Match) -> str:
        found: list[int] = []
        for part in re.split(r"\s*(?:,|;|\band\b)\s*", next(g for g in match.groups() if g)):
            bounds = [int(b) for b in re.split(r"\s*[-–]\s*", part.strip()) if b]
            if len(bounds) == 2 and 0 <= bounds[1] - bounds[0] < 10:  # a range: [1-3]
                found += range(bounds[0], bounds[1] + 1)
            else:
                found += bounds
        return "".join(f"[{n}]" for n in found)

    return _LOOSE_MARKER.sub(canonical, reply)


def validate(reply: str, hits: list[Hit], backend: str) -> tuple[Answer, bool]:
    """The validated Answer for an LLM reply over `hits` (passage n is hits[n-1]), and
    whether it may be shown as an answer at all: a refusal, or a reply with at least one
    supported sentence. (An uncited reply, or one that its passages bear out nowhere, is
    what an invented or injected answer looks like.)"""
    reply = normalize_markers(reply)
    refused = is_refusal(reply)
    if refused and not _ONE_MARKER.search(reply):
        return Answer(text=reply.strip(), refused=True, backend=backend), True
    claims = parse_claims(reply, len(hits))
    _spread_paragraph_markers(reply, claims)
    order = list(dict.fromkeys(p for claim in claims for p in claim.passages))
    marker_of = {passage: number for number, passage in enumerate(order, start=1)}
    citations = [quote_passage(marker_of[p], p, hits[p], claims) for p in order]
    text = " ".join(with_markers(claim.text, [marker_of[p] for p in claim.passages])
                    for claim in claims)
    unsupported = [c.text for c in claims if not supported(c, hits)]
    answer = Answer(text=text, citations=citations, refused=refused, backend=backend,
                    unsupported=unsupported)
    return answer, refused or len(unsupported) < len(claims)


def parse_claims(reply: str, passage_count: int) -> list[Claim]:
    """Sentences with their valid markers; markers opening a sentence belong to the one before."""
    claims: list[Claim] = []
    # Keep every piece: a lone "[2]" after the final stop is a marker, not a fragment.
    for start, end in split_sentences(reply.strip(), min_chars=1):
        sentence = reply.strip()[start:end]
        leading = MARKERS.match(sentence)
        if leading and claims:
            claims[-1].passages += _valid(leading.group(1), passage_count)
            sentence = sentence[leading.end():]
        cited = _valid("".join(MARKERS.findall(sentence)), passage_count)
        text = MARKERS.sub("", sentence).strip()
        if text:
            claims.append(Claim(text=text, passages=cited))
    for claim in claims:
        claim.passages = list(dict.fromkeys(claim.passages))
    return claims


def with_markers(sentence: str, markers: list[int]) -> str:
    """"It fell in 2024." + [1] -> "It fell in 2024 [1]." (markers before the final stop)."""
    if not markers:
        return sentence
    tags = "".join(f"[{m}]" for m in markers)
    body = sentence.rstrip(".!?")
    return f"{body} {tags}{sentence[len(body):]}"


def _valid(markers: str, passage_count: int) -> list[int]:
    return [int(n) - 1 for n in _ONE_MARKER.findall(markers) if 1 <= int(n) <= passage_count]


def quote_passage(marker: int, passage: int, hit: Hit, claims: list[Claim]) -> Citation:
    """Citation of the passage's span covering the sentences that best support its claims."""
    chunk = hit.chunk
    spans = [best_span(chunk.text, c.text) for c in claims if passage in c.passages]
    start, end = min(s for s, _ in spans), max(e for _, e in spans)
    return cite(marker, chunk, chunk.start + start, chunk.start + end, hit.score)


def best_span(passage: str, claim: str) -> tuple[int, int]:
    """(start, end) in `passage` of its sentence sharing most terms and numbers with `claim`."""
    wanted = set(terms(claim)) | number_values(claim)
    spans = split_sentences(passage) or [(0, len(passage))]

    def overlap(span: tuple[int, int]) -> int:
        text = passage[span[0]:span[1]]
        return len(wanted & (set(terms(text)) | number_values(text)))

    return max(spans, key=lambda span: (overlap(span), -span[0]))


def supported(claim: Claim, hits: list[Hit]) -> bool:
    """The claim cites a passage, every number and name of it occurs in its cited passages,
    and they hold at least a third of its words. (An uncited sentence is never supported,
    and "PWNED [1]." is not supported by passage 1.)"""
    cited = [hits[p].chunk.text for p in claim.passages]
    if not cited:
        return False
    passage_numbers = set().union(*(number_values(t) for t in cited))
    passage_words = set().union(*(words(t) for t in cited))
    if not number_values(claim.text) <= passage_numbers:
        return False
    if not all(set(words(name)) <= passage_words for name in names(claim.text)):
        return False
    claim_terms = set(terms(claim.text))
    passage_terms = set().union(*(terms(t) for t in cited))
    return not claim_terms or len(claim_terms & passage_terms) >= MIN_SHARED * len(claim_terms)


def _spread_paragraph_markers(reply: str, claims: list[Claim]) -> None:
    """A paragraph whose markers all sit on its last sentence cites them for all of its
    sentences: "A. B. C [1]." says that [1] bears out A and B too."""
    index = 0
    for paragraph in re.split(r"\n\s*\n", reply.strip()):
        count = len(parse_claims(paragraph, 10**6))
        members = claims[index:index + count]
        index += count
        if len(members) > 1 and members[-1].passages and not any(
                c.passages for c in members[:-1]):
            for claim in members[:-1]:
                claim.passages = list(members[-1].passages)

