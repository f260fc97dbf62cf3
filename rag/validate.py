"""Checks an LLM reply against the passages it was given, before anyone sees it as final.

Markers that point to no passage are dropped and the rest renumbered in order of first use;
each citation quotes the span of its passage that best supports the sentences citing it
(an exact slice, with file offsets); sentences whose numbers or names appear in none of their
cited passages go to Answer.unsupported; "The articles don't say" becomes refused=True.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.answer_types import names, number_values, numbers
from rag.citations import cite
from rag.retrieve import Hit
from rag.sentences import split_sentences
from rag.terms import terms, words
from rag.types import Answer, Citation

MARKERS = re.compile(r"\s*((?:\[\d+\])+)")
_ONE_MARKER = re.compile(r"\[(\d+)\]")
_REFUSALS = re.compile(
    r"articles? (don't|do not|does not|doesn't) (say|contain|mention|cover|answer)"
    r"|not (in|covered by|mentioned in) the (articles|passages)"
    r"|passages (don't|do not) (say|contain|mention)",
    re.IGNORECASE,
)


@dataclass
class Claim:
    """One sentence of the reply, without its markers, and the passages it cites."""

    text: str
    passages: list[int] = field(default_factory=list)  # 0-based indexes into hits


def is_refusal(reply: str) -> bool:
    return bool(_REFUSALS.search(reply))


def validate(reply: str, hits: list[Hit], backend: str) -> Answer:
    """The validated Answer for an LLM reply over `hits` (passage n is hits[n-1])."""
    if is_refusal(reply) and not _ONE_MARKER.search(reply):
        return Answer(text=reply.strip(), refused=True, backend=backend)
    claims = parse_claims(reply, len(hits))
    order = list(dict.fromkeys(p for claim in claims for p in claim.passages))
    marker_of = {passage: number for number, passage in enumerate(order, start=1)}
    citations = [quote_passage(marker_of[p], p, hits[p], claims) for p in order]
    text = " ".join(with_markers(claim.text, [marker_of[p] for p in claim.passages])
                    for claim in claims)
    return Answer(
        text=text,
        citations=citations,
        refused=is_refusal(reply),
        backend=backend,
        unsupported=[c.text for c in claims if not supported(c, hits)],
    )


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
    """Every number and name of the claim occurs in at least one of its cited passages."""
    cited = [hits[p].chunk.text for p in claim.passages]
    if not cited:
        return not (numbers(claim.text) or names(claim.text))
    passage_numbers = set().union(*(number_values(t) for t in cited))
    passage_words = set().union(*(words(t) for t in cited))
    if not number_values(claim.text) <= passage_numbers:
        return False
    return all(set(words(name)) <= passage_words for name in names(claim.text))

